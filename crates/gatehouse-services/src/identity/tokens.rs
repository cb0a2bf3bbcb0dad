//! Access tokens: JWTs signed with EdDSA (Ed25519), a `kid` header naming the
//! key, and the claims `iss, sub, tid, sid, roles, iat, nbf, exp, jti`.
//! Verification accepts only EdDSA with a published key: `alg: none`, HMAC
//! "signed" with the public key, unknown keys and bad times are all refused.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_domain::{AccountId, SessionId, TenantId};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;

/// Seconds of clock skew tolerated between nodes when checking `exp` and `nbf`.
const CLOCK_SKEW_SECONDS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The account id.
    pub sub: String,
    /// The tenant the token acts in; null for platform sessions.
    pub tid: Option<String>,
    /// The session id: revoking the session revokes the token.
    pub sid: String,
    /// Names of the roles held in `tid` when the token was issued (informative;
    /// authorization uses the session's current assignments).
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// A verified token, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub tenant_id: Option<TenantId>,
}

pub struct TokenIssuer {
    keys: Arc<KeyRing>,
    issuer: String,
    pub ttl: Duration,
    /// Tokens whose signature was already checked, with their `nbf` and `exp`: an
    /// Ed25519 verification costs tens of microseconds, a look-up a fraction of one.
    /// Keyed by the whole token, so any change to it misses.
    verified: RwLock<HashMap<String, (VerifiedToken, i64, i64)>>,
}

/// Most verified tokens remembered; past it the cache starts over.
const VERIFIED_TOKENS_MAX: usize = 100_000;

impl TokenIssuer {
    pub fn new(keys: Arc<KeyRing>, issuer: String, ttl: Duration) -> TokenIssuer {
        TokenIssuer { keys, issuer, ttl, verified: RwLock::new(HashMap::new()) }
    }

    pub fn issue(
        &self,
        account: AccountId,
        session: SessionId,
        tenant: Option<TenantId>,
        roles: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let (kid, key) = self.keys.signing_key().ok_or("no signing key is loaded")?;
        let issued = now.timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: account.to_string(),
            tid: tenant.map(|t| t.to_string()),
            sid: session.to_string(),
            roles,
            iat: issued,
            nbf: issued,
            exp: issued + i64::try_from(self.ttl.as_secs()).unwrap_or(900),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, &claims, &key).map_err(|err| err.to_string())
    }

    /// Checks signature, algorithm, key, issuer and times; says nothing about revocation.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, &'static str> {
        let now = chrono::Utc::now().timestamp();
        let skew = CLOCK_SKEW_SECONDS as i64;
        if let Some((verified, nbf, exp)) = self.verified.read().ok().and_then(|cache| cache.get(token).cloned()) {
            if now + skew < nbf {
                return Err("the token is not valid yet");
            }
            if now - skew >= exp {
                return Err("the token has expired");
            }
            return Ok(verified);
        }
        let (verified, nbf, exp) = self.verify_signature(token)?;
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() >= VERIFIED_TOKENS_MAX {
                cache.retain(|_, (_, _, exp)| *exp > now);
                if cache.len() >= VERIFIED_TOKENS_MAX {
                    cache.clear();
                }
            }
            cache.insert(token.to_owned(), (verified.clone(), nbf, exp));
        }
        Ok(verified)
    }

    fn verify_signature(&self, token: &str) -> Result<(VerifiedToken, i64, i64), &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "the token is malformed")?;
        if header.alg != Algorithm::EdDSA {
            return Err("the token's algorithm is not accepted");
        }
        let kid = header.kid.ok_or("the token names no key")?;
        let key = self.keys.public_key(&kid).ok_or("the token's key is unknown or retired")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|err| match err.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => "the token is not valid yet",
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "the token's signature is invalid",
            _ => "the token is invalid",
        })?;
        let claims = data.claims;
        let verified = VerifiedToken {
            account_id: claims.sub.parse().map_err(|_| "the token's subject is invalid")?,
            session_id: claims.sid.parse().map_err(|_| "the token's session is invalid")?,
            tenant_id: claims.tid.map(|tid| tid.parse()).transpose().map_err(|_| "the token's tenant is invalid")?,
        };
        Ok((verified, claims.nbf, claims.exp))
    }
}
