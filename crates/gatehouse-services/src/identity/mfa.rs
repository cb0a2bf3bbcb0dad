//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps), recovery
//! codes, and the short-lived, single-use challenges between password and code.
//!
//! A code is accepted for the current step or one step either side (clock
//! drift), and only if its step is later than the last accepted one, which the
//! store checks atomically: a code works once, on any node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gatehouse_domain::{AccountId, TenantId};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

use crate::secret_token;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one.
const DRIFT_STEPS: i64 = 1;
pub const RECOVERY_CODES: usize = 10;
/// How long a login may wait for its second factor.
const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Wrong codes a challenge takes before it is spent.
const CHALLENGE_ATTEMPTS_MAX: u32 = 5;
const CHALLENGES_MAX: usize = 100_000;
const CHALLENGE_TOKEN_PREFIX: &str = "ghm_";

/// Whether the account has a confirmed second factor (an unconfirmed enrolment does not count).
pub async fn is_enrolled(store: &dyn gatehouse_store::Store, account: AccountId) -> gatehouse_store::StoreResult<bool> {
    Ok(store.mfa_get(account).await?.is_some_and(|mfa| mfa.confirmed_at.is_some()))
}

/// Accepts a TOTP code (each step once, on any node) or, with `allow_recovery`, an unused recovery code.
pub async fn accept_code(
    store: &dyn gatehouse_store::Store,
    account: AccountId,
    secret: &[u8],
    code: &str,
    allow_recovery: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> gatehouse_store::StoreResult<bool> {
    if let Some(step) = matching_step(secret, code, now.timestamp()) {
        return store.mfa_use_step(account, step).await;
    }
    if allow_recovery && code.trim().len() > DIGITS {
        return store.mfa_use_recovery_code(account, &recovery_digest(code), now).await;
    }
    Ok(false)
}

/// 160 random bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8]) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, secret.to_vec())
}

/// The step whose code `code` is, within the drift window around `now_unix`.
pub fn matching_step(secret: &[u8], code: &str, now_unix: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret);
    let current = now_unix.div_euclid(STEP_SECONDS as i64);
    (current - DRIFT_STEPS..=current + DRIFT_STEPS).find(|step| {
        let at = u64::try_from(*step).unwrap_or(0) * STEP_SECONDS;
        bool::from(totp.generate(at).as_bytes().ct_eq(code.as_bytes()))
    })
}

pub fn secret_base32(secret: &[u8]) -> String {
    totp(secret).get_secret_base32()
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label: String = form_urlencoded::byte_serialize(format!("{issuer}:{account}").as_bytes()).collect();
    let issuer_param: String = form_urlencoded::byte_serialize(issuer.as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={}&issuer={issuer_param}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret_base32(secret)
    )
}

/// The URI as a QR code, in SVG.
pub fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|err| err.to_string())?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
}

/// Ten codes of 10 base32 characters (50 bits each), shown once.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 7];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let text: String = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .take(10)
                .collect();
            format!("{}-{}", &text[..5.min(text.len())], &text[5.min(text.len())..])
        })
        .collect()
}

/// How a recovery code is stored: its digest, ignoring case and dashes.
pub fn recovery_digest(code: &str) -> String {
    let normalized: String = code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// A login whose password was right, waiting for its second factor.
#[derive(Debug, Clone, Copy)]
pub struct Challenge {
    pub account_id: AccountId,
    pub tenant_id: Option<TenantId>,
    expires: Instant,
    attempts: u32,
}

/// What presenting a challenge token and a code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeUse {
    Unknown,
    Pending,
}

#[derive(Default)]
pub struct Challenges {
    pending: Mutex<HashMap<String, Challenge>>,
}

impl Challenges {
    /// A new single-use token for this half-done login.
    pub fn open(&self, account_id: AccountId, tenant_id: Option<TenantId>) -> String {
        let (token, digest) = secret_token::generate(CHALLENGE_TOKEN_PREFIX);
        if let Ok(mut pending) = self.pending.lock() {
            let now = Instant::now();
            pending.retain(|_, challenge| challenge.expires > now);
            if pending.len() >= CHALLENGES_MAX {
                pending.clear();
            }
            pending.insert(digest, Challenge { account_id, tenant_id, expires: now + CHALLENGE_TTL, attempts: 0 });
        }
        token
    }

    /// The challenge, if the token is live; counts the attempt.
    pub fn attempt(&self, token: &str) -> Option<Challenge> {
        let key = secret_token::digest(token);
        let mut pending = self.pending.lock().ok()?;
        let challenge = pending.get_mut(&key)?;
        if challenge.expires <= Instant::now() || challenge.attempts >= CHALLENGE_ATTEMPTS_MAX {
            pending.remove(&key);
            return None;
        }
        challenge.attempts += 1;
        Some(*challenge)
    }

    /// Spends the token: it cannot complete a second login.
    pub fn close(&self, token: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&secret_token::digest(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238, appendix B (8-digit vectors; the 6-digit code is their last six digits).
        let secret = b"12345678901234567890";
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 8, 0, 30, secret.to_vec());
        assert_eq!(totp.generate(59), "94287082");
        assert_eq!(totp.generate(1_111_111_109), "07081804");
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "081804", 1_111_111_109), Some(1_111_111_109 / 30));
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code_at = |t: i64| totp(&secret).generate(t as u64);
        assert!(matching_step(&secret, &code_at(now), now).is_some());
        assert!(matching_step(&secret, &code_at(now - 30), now).is_some());
        assert!(matching_step(&secret, &code_at(now + 30), now).is_some());
        assert!(matching_step(&secret, &code_at(now - 90), now).is_none());
        assert!(matching_step(&secret, "12345", now).is_none());
        assert!(matching_step(&secret, "abcdef", now).is_none());
    }

    #[test]
    fn recovery_codes_are_distinct_and_match_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), RECOVERY_CODES);
        assert_eq!(recovery_digest(&codes[0]), recovery_digest(&codes[0].to_uppercase().replace('-', "")));
    }

    #[test]
    fn challenges_are_single_use_and_bounded() {
        let challenges = Challenges::default();
        let token = challenges.open(AccountId::generate(), None);
        for _ in 0..CHALLENGE_ATTEMPTS_MAX {
            assert!(challenges.attempt(&token).is_some());
        }
        assert!(challenges.attempt(&token).is_none(), "spent after too many tries");
        let token = challenges.open(AccountId::generate(), None);
        challenges.close(&token);
        assert!(challenges.attempt(&token).is_none());
    }
}
