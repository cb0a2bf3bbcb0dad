//! argon2id password hashing at no less than OWASP's minimum (19 MiB, 2
//! iterations, parallelism 1). Hashing and verifying run on the blocking pool:
//! each takes tens of milliseconds of one core by design.
//!
//! Hashes run on one dedicated thread per core, fed from one queue: a thread
//! that finishes a hash takes the next at once, with no async task to wake in
//! between, and more at once would only make each slower (19 MiB each,
//! fighting over caches and memory bandwidth). Each thread keeps its 19 MiB of
//! argon2 blocks between runs: allocating them afresh costs a memset and
//! thousands of page faults, and every run overwrites them wholly.

use argon2::password_hash::rand_core::OsRng;
use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
    /// The queue of the hashing threads; they stop when the last hasher is dropped.
    jobs: Arc<Mutex<mpsc::Sender<Job>>>,
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
        Ok(PasswordHasher { argon2, decoy_hash, jobs: Arc::new(Mutex::new(start_hashing_threads(cores)?)) })
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        self.run(move || hash_with(&argon2, &password)).await.unwrap_or_else(|| Err("the hashing threads stopped".to_owned()))
    }

    /// Verifies `password` against `stored`, or against the decoy when there is no stored hash.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let real = stored.is_some();
        let stored = stored.unwrap_or(&self.decoy_hash).to_owned();
        let password = password.to_owned();
        let matched = self.run(move || verify_now(&password, &stored)).await.unwrap_or(false);
        matched && real
    }

    /// Runs `work` on a hashing thread; `None` if they are gone.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        answered.await.ok()
    }
}

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The argon2 blocks of this thread, kept between verifications.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Verifies on the calling thread, reusing its block memory: what the hashing
/// threads run, and what the benchmark's raw rate measures.
pub fn verify_now(password: &str, stored: &str) -> bool {
    BLOCKS.with(|blocks| verify_with_memory(password.as_bytes(), stored, &mut blocks.borrow_mut()))
}

fn start_hashing_threads(count: usize) -> Result<mpsc::Sender<Job>, String> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for index in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || loop {
                // The lock is held only while taking a job, never while running one.
                let next = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match next {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(|err| format!("cannot start a hashing thread: {err}"))?;
    }
    Ok(jobs)
}

/// An argon2 PHC string checked in constant time, using (and growing if need be) `memory`.
fn verify_with_memory(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else { return false };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut computed = [0u8; 64];
    let Some(computed) = computed.get_mut(..expected.len()) else { return false };
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2.hash_password_into_with_memory(password, salt, computed, &mut memory[..blocks]).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(computed).is_ok_and(|computed| computed == expected)
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

    #[test]
    fn reused_memory_verifies_like_fresh_memory_across_parameters() {
        // Hashes made by the crate's own API, with other parameters than ours: a
        // buffer grown for one and reused for the next still gives exact answers.
        let mut memory = Vec::new();
        for (m, t) in [(8192, 3), (19_456, 2), (4096, 1)] {
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(m, t, 1, None).unwrap());
            let salt = SaltString::generate(&mut OsRng);
            let hash = argon2.hash_password(b"hunter2 hunter2", &salt).unwrap().to_string();
            assert!(verify_with_memory(b"hunter2 hunter2", &hash, &mut memory), "m={m} t={t}");
            assert!(!verify_with_memory(b"hunter2 hunter3", &hash, &mut memory), "m={m} t={t}");
        }
        assert!(!verify_with_memory(b"x", "not a phc string", &mut memory));
        assert!(!verify_with_memory(b"x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$", &mut memory));
    }
}
