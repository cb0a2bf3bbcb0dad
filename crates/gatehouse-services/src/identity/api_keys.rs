//! API keys: `gh_` and 256 random bits ([`crate::secret_token`]), kept only as a SHA-256 digest. Keys are
//! looked up by digest and held in memory for a short while; a revocation on
//! this node clears them at once, on another node within [`API_KEY_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::secret_token;
use chrono::Utc;
use gatehouse_domain::identity::ApiKey;
use gatehouse_domain::ApiKeyId;
use gatehouse_store::{Store, StoreResult};

pub const API_KEY_PREFIX: &str = "gh_";
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Last use is written at most this often per key, not on every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
const KEYS_MAX: usize = 100_000;

/// The part of a key shown in lists: the prefix and eight characters.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 8).collect()
}

struct Cached {
    key: ApiKey,
    fetched_at: Instant,
    touched_at: Option<Instant>,
}

#[derive(Default)]
pub struct ApiKeyCache {
    entries: RwLock<HashMap<String, Cached>>,
}

impl ApiKeyCache {
    /// The usable key presented, or `None` (unknown, revoked or expired).
    pub async fn authenticate(&self, store: &dyn Store, presented: &str) -> StoreResult<Option<ApiKey>> {
        let digest = secret_token::digest(presented);
        let cached = self.entries.read().ok().and_then(|entries| {
            entries.get(&digest).filter(|cached| cached.fetched_at.elapsed() < API_KEY_CACHE_TTL).map(|cached| cached.key.clone())
        });
        let key = match cached {
            Some(key) => Some(key),
            None => {
                let key = store.api_key_by_hash(&digest).await?;
                if let (Some(key), Ok(mut entries)) = (&key, self.entries.write()) {
                    if entries.len() >= KEYS_MAX {
                        entries.clear();
                    }
                    entries.insert(digest.clone(), Cached { key: key.clone(), fetched_at: Instant::now(), touched_at: None });
                }
                key
            }
        };
        let key = key.filter(|key| key.is_usable(Utc::now()));
        if let Some(key) = &key {
            self.touch(store, &digest, key.id).await;
        }
        Ok(key)
    }

    async fn touch(&self, store: &dyn Store, digest: &str, id: ApiKeyId) {
        // Every request passes here: look under the read lock, write only when a touch is due.
        let touched_recently = |cached: &Cached| cached.touched_at.is_some_and(|at| at.elapsed() < TOUCH_INTERVAL);
        if self.entries.read().ok().is_some_and(|entries| entries.get(digest).is_none_or(touched_recently)) {
            return;
        }
        let due = self.entries.write().ok().is_some_and(|mut entries| match entries.get_mut(digest) {
            Some(cached) if cached.touched_at.is_none_or(|at| at.elapsed() >= TOUCH_INTERVAL) => {
                cached.touched_at = Some(Instant::now());
                true
            }
            _ => false,
        });
        if due {
            if let Err(err) = store.api_key_touch(id, Utc::now()).await {
                tracing::warn!(error = %err, key = %id, "could not record an API key's use");
            }
        }
    }

    /// Forgets a key (after revocation here).
    pub fn forget(&self, id: ApiKeyId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, cached| cached.key.id != id);
        }
    }
}
