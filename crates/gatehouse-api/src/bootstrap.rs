//! The bootstrap operator token. Until accounts exist it is the one credential: a
//! platform-level bearer token, 256 random bits, kept only as its SHA-256 digest
//! (a slow password hash buys nothing for a secret with that much entropy) and
//! compared in constant time. It stays afterwards as the break-glass credential.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_store::{Store, StoreError, StoreResult};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::RwLock;

use gatehouse_services::secret_token;

/// The platform setting that holds the bootstrap token's digest.
pub const BOOTSTRAP_TOKEN_SETTING: &str = "bootstrap_token_sha256";
/// Prefix of bootstrap tokens, so a leaked one is recognisable by secret scanners.
pub const BOOTSTRAP_TOKEN_PREFIX: &str = "ghb_";

/// How often the digest is re-read, so a rotation by another process takes effect.
const DIGEST_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Makes sure a bootstrap token exists. With `configured` (from
/// `GATEHOUSE_BOOTSTRAP_TOKEN`) its digest replaces the stored one; otherwise, if
/// none is stored, a new token is generated and returned so the caller can show it once.
pub async fn ensure_bootstrap_token(
    store: &dyn Store,
    configured: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    if let Some(token) = configured {
        store
            .setting_put(
                BOOTSTRAP_TOKEN_SETTING,
                &secret_token::digest(token),
                &ChangeContext::system("bootstrap token from configuration", now),
            )
            .await?;
        return Ok(None);
    }
    if store.setting_get(BOOTSTRAP_TOKEN_SETTING).await?.is_some() {
        return Ok(None);
    }
    // Insert-if-absent: when several nodes start on a fresh database at once, one
    // token wins and only the node that stored it shows it.
    let (token, digest) = secret_token::generate(BOOTSTRAP_TOKEN_PREFIX);
    let stored =
        store.setting_insert(BOOTSTRAP_TOKEN_SETTING, &digest, &ChangeContext::system("bootstrap token generated", now)).await?;
    Ok(stored.then_some(token))
}

/// Replaces the bootstrap token; the old one stops working within [`DIGEST_REFRESH_INTERVAL`].
pub async fn rotate_bootstrap_token(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<String> {
    let (token, digest) = secret_token::generate(BOOTSTRAP_TOKEN_PREFIX);
    store
        .setting_put(BOOTSTRAP_TOKEN_SETTING, &digest, &ChangeContext::system("gatehouse admin rotate-bootstrap-token", now))
        .await?;
    Ok(token)
}

/// Checks presented bearer tokens against the stored digest, held in memory.
pub struct BootstrapAuth {
    store: Arc<dyn Store>,
    cached: RwLock<CachedDigest>,
}

struct CachedDigest {
    digest: Option<[u8; 32]>,
    loaded_at: Instant,
}

impl BootstrapAuth {
    pub async fn load(store: Arc<dyn Store>) -> StoreResult<Self> {
        let digest = read_digest(store.as_ref()).await?;
        Ok(Self { store, cached: RwLock::new(CachedDigest { digest, loaded_at: Instant::now() }) })
    }

    pub async fn verify(&self, presented: &str) -> Result<bool, StoreError> {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let (digest, stale) = {
            let cached = self.cached.read().await;
            (cached.digest, cached.loaded_at.elapsed() > DIGEST_REFRESH_INTERVAL)
        };
        let digest = if stale { self.reload().await? } else { digest };
        Ok(digest.is_some_and(|digest| bool::from(digest.ct_eq(&presented))))
    }

    async fn reload(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let digest = read_digest(self.store.as_ref()).await?;
        *self.cached.write().await = CachedDigest { digest, loaded_at: Instant::now() };
        Ok(digest)
    }
}

async fn read_digest(store: &dyn Store) -> StoreResult<Option<[u8; 32]>> {
    let stored = store.setting_get(BOOTSTRAP_TOKEN_SETTING).await?;
    Ok(stored.and_then(|hex_digest| hex::decode(hex_digest).ok()).and_then(|bytes| bytes.try_into().ok()))
}
