//! Token signing keys: Ed25519 key pairs whose private halves are stored
//! encrypted (ChaCha20-Poly1305) under the master key. The newest key signs;
//! retired keys stay published in the JWKS until every token they signed has expired.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_store::{SigningKeyRecord, Store, StoreResult};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

const NONCE_BYTES: usize = 12;

/// The key that encrypts signing keys at rest. 32 bytes; never printed.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// Parses the base64 (standard or URL-safe) form used in configuration.
    pub fn parse(encoded: &str) -> Result<MasterKey, String> {
        let encoded = encoded.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded))
            .map_err(|_| "expected 32 bytes in base64".to_owned())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| "expected exactly 32 bytes in base64".to_owned())?;
        Ok(MasterKey(bytes))
    }

    pub fn credential_keys(&self, tenant: gatehouse_domain::TenantId) -> gatehouse_access::credential::TenantKeys {
        gatehouse_access::credential::TenantKeys::derive(&self.0, tenant)
    }

    pub fn chain_key(&self, tenant: gatehouse_domain::TenantId) -> gatehouse_access::chain::ChainKey {
        gatehouse_access::chain::ChainKey::derive(&self.0, tenant)
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self.cipher().encrypt(Nonce::from_slice(&nonce), plaintext).map_err(|_| "encryption failed".to_owned())?;
        Ok([nonce.as_slice(), sealed.as_slice()].concat())
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_BYTES {
            return Err("a stored signing key is truncated".to_owned());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| "cannot decrypt the signing keys: the master key is not the one they were stored with".to_owned())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A key that verifies tokens (published in the JWKS).
#[derive(Clone)]
pub struct PublicKey {
    pub kid: String,
    /// The raw 32-byte Ed25519 public key.
    pub raw: Vec<u8>,
    pub decoding: DecodingKey,
}

struct Ring {
    signing: Option<(String, EncodingKey)>,
    published: Vec<PublicKey>,
}

/// The signing key in use and the public keys still published.
pub struct KeyRing {
    master: MasterKey,
    /// How long retired keys stay published: the access tokens' lifetime.
    token_ttl: Duration,
    ring: RwLock<Ring>,
}

impl KeyRing {
    /// Loads the keys, creating the first one if there is none.
    pub async fn load_or_create(store: &dyn Store, master: MasterKey, token_ttl: Duration) -> Result<KeyRing, String> {
        let ring = KeyRing { master, token_ttl, ring: RwLock::new(Ring { signing: None, published: Vec::new() }) };
        let records = store.signing_keys().await.map_err(|err| err.to_string())?;
        if records.iter().all(|record| record.retired_at.is_some()) {
            ring.rotate(store, &ChangeContext::system("first signing key", Utc::now())).await.map_err(|err| err.to_string())?;
        } else {
            ring.install(&records, Utc::now())?;
        }
        Ok(ring)
    }

    /// Makes a new signing key; the current one is retired but stays published.
    pub async fn rotate(&self, store: &dyn Store, change: &ChangeContext) -> Result<String, String> {
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).map_err(|_| "key generation failed".to_owned())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "key generation failed".to_owned())?;
        let kid = format!("{}", uuid::Uuid::now_v7().simple());
        let record = SigningKeyRecord {
            kid: kid.clone(),
            algorithm: "EdDSA".to_owned(),
            public_key: pair.public_key().as_ref().to_vec(),
            private_key_encrypted: self.master.seal(pkcs8.as_ref())?,
            created_at: change.at,
            retired_at: None,
        };
        store.signing_key_add(&record, change).await.map_err(|err| err.to_string())?;
        self.reload(store).await.map_err(|err| err.to_string())?;
        Ok(kid)
    }

    /// Re-reads the keys (another node or the CLI may have rotated them).
    pub async fn reload(&self, store: &dyn Store) -> StoreResult<()> {
        let records = store.signing_keys().await?;
        if let Err(err) = self.install(&records, Utc::now()) {
            tracing::error!(error = %err, "cannot load the signing keys");
        }
        Ok(())
    }

    fn install(&self, records: &[SigningKeyRecord], now: DateTime<Utc>) -> Result<(), String> {
        let ttl = chrono::Duration::from_std(self.token_ttl).unwrap_or(chrono::Duration::minutes(15));
        let mut signing = None;
        let mut published = Vec::new();
        for record in records {
            let still_verifies = record.retired_at.is_none_or(|retired| retired + ttl > now);
            if still_verifies {
                published.push(PublicKey {
                    kid: record.kid.clone(),
                    raw: record.public_key.clone(),
                    decoding: DecodingKey::from_ed_der(&record.public_key),
                });
            }
            if record.retired_at.is_none() && signing.is_none() {
                let pkcs8 = self.master.open(&record.private_key_encrypted)?;
                signing = Some((record.kid.clone(), EncodingKey::from_ed_der(&pkcs8)));
            }
        }
        let mut ring = self.ring.write().map_err(|_| "the key ring lock is poisoned".to_owned())?;
        ring.signing = signing;
        ring.published = published;
        Ok(())
    }

    /// Seals another secret (a TOTP seed) under the master key.
    pub fn seal_secret(&self, secret: &[u8]) -> Result<Vec<u8>, String> {
        self.master.seal(secret)
    }

    pub fn open_secret(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        self.master.open(sealed)
    }

    /// A tenant's keys for PIN digests and QR tokens, derived from the master key.
    pub fn credential_keys(&self, tenant: gatehouse_domain::TenantId) -> gatehouse_access::credential::TenantKeys {
        self.master.credential_keys(tenant)
    }

    /// A tenant's key for its access-log chain, derived from the master key.
    pub fn chain_key(&self, tenant: gatehouse_domain::TenantId) -> gatehouse_access::chain::ChainKey {
        self.master.chain_key(tenant)
    }

    /// The key to sign with now, and its id.
    pub fn signing_key(&self) -> Option<(String, EncodingKey)> {
        self.ring.read().ok().and_then(|ring| ring.signing.clone())
    }

    /// The public key with this id, if it is still published.
    pub fn public_key(&self, kid: &str) -> Option<PublicKey> {
        self.ring.read().ok().and_then(|ring| ring.published.iter().find(|key| key.kid == kid).cloned())
    }

    /// The JWKS document (RFC 7517) of every published key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .ring
            .read()
            .map(|ring| {
                ring.published
                    .iter()
                    .map(|key| {
                        serde_json::json!({
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "alg": "EdDSA",
                            "use": "sig",
                            "kid": key.kid,
                            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.raw),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_their_master_key() {
        let master = MasterKey::generate();
        let sealed = master.seal(b"private key").unwrap();
        assert_eq!(master.open(&sealed).unwrap(), b"private key");
        assert!(MasterKey::generate().open(&sealed).is_err());
        assert_eq!(MasterKey::parse(&master.encode()).unwrap().0, master.0);
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert_eq!(format!("{master:?}"), "MasterKey(***)");
    }
}
