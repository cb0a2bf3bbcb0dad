//! argon2id password hashing at no less than OWASP's minimum (19 MiB, 2
//! iterations, parallelism 1). Hashing and verifying run on the blocking pool:
//! each takes tens of milliseconds of one core by design.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP's minimum recommendation for argon2id.
    pub const OWASP_MINIMUM: PasswordParams = PasswordParams { memory_kib: 19_456, iterations: 2, parallelism: 1 };

    /// Refuses parameters below the OWASP minimum.
    pub fn validated(self) -> Result<PasswordParams, String> {
        let floor = PasswordParams::OWASP_MINIMUM;
        if self.memory_kib < floor.memory_kib || self.iterations < floor.iterations || self.parallelism < floor.parallelism {
            return Err(format!(
                "argon2id parameters must be at least {} KiB, {} iterations, parallelism {}",
                floor.memory_kib, floor.iterations, floor.parallelism
            ));
        }
        Ok(self)
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// At most one hash per core at a time: more would only make each slower
    /// (19 MiB each, fighting over caches and memory bandwidth) and queue the same.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// A hash of a random password, verified against when an e-mail is unknown,
    /// so that an unknown e-mail costs the same as a wrong password.
    decoy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: PasswordParams) -> Result<PasswordHasher, String> {
        let params =
            Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(|err| err.to_string())?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy_hash = hash_with(&argon2, &uuid::Uuid::new_v4().to_string())?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(PasswordHasher { argon2, decoy_hash, slots: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)) })
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        let _slot = self.slots.acquire().await.map_err(|err| err.to_string())?;
        tokio::task::spawn_blocking(move || hash_with(&argon2, &password)).await.map_err(|err| err.to_string())?
    }

    /// Verifies `password` against `stored`, or against the decoy when there is no stored hash.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let real = stored.is_some();
        let stored = stored.unwrap_or(&self.decoy_hash).to_owned();
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        let Ok(_slot) = self.slots.acquire().await else { return false };
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).map(|hash| argon2.verify_password(password.as_bytes(), &hash).is_ok()).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        matched && real
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2.hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_the_configured_parameters() {
        let hasher = PasswordHasher::new(PasswordParams::OWASP_MINIMUM).unwrap();
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery staple", Some(&hash)).await);
        assert!(!hasher.verify("correct horse battery stapler", Some(&hash)).await);
        assert!(!hasher.verify("anything", None).await, "the decoy never matches");
        assert!(PasswordParams { memory_kib: 4096, ..PasswordParams::OWASP_MINIMUM }.validated().is_err());
    }
}
