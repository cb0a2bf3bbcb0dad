//! Prefixed secret tokens: 256 random bits in base64url behind a short prefix
//! that says what the token is (`ghb_` bootstrap, `gh_` API key, `ghr_` refresh,
//! `ghp_` password reset, `ghm_` second-factor challenge), so a leaked one is
//! recognisable. Tokens are kept only as their SHA-256 digest: with that much
//! entropy a slow password hash buys nothing.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// A new token with `prefix`, and the digest it is stored as.
pub fn generate(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&token);
    (token, digest)
}

/// The hex SHA-256 digest a token is stored and looked up by.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_stored_as_digests() {
        let (a, a_digest) = generate("ghx_");
        let (b, _) = generate("ghx_");
        assert!(a.starts_with("ghx_"));
        assert_eq!(a.len(), 4 + 43, "32 bytes of base64url");
        assert_ne!(a, b);
        assert_eq!(a_digest, digest(&a));
        assert_eq!(a_digest.len(), 64);
        assert!(!a_digest.contains(&a[4..]));
    }
}
