//! Access decisions at the edge: each tenant's [`Engine`] kept in memory and
//! reloaded whenever its policy changes, and the group-committing access log.
//!
//! Freshness: every write that can change a decision calls
//! [`AccessService::changed`] after its transaction commits. That bumps the
//! tenant's change counter and, if the tenant's engine is loaded, reloads it
//! before returning, so the admin call that suspends a credential returns only
//! once the next decision refuses it. A reload records the counter value it
//! started from; a decision that finds the loaded value behind the counter (a
//! change that raced a first load) reloads before deciding.

pub mod decision;
mod log_writer;
pub mod presented;
pub mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use gatehouse_access::policy::Policy;
use gatehouse_access::{Engine, Snapshot};
use gatehouse_domain::TenantId;
use gatehouse_store::Store;

pub use log_writer::{AccessLogWriter, LogWriterConfig};

use crate::error::{ApiError, ApiResult};
use crate::identity::keys::KeyRing;

/// One tenant's engine and the bookkeeping that keeps it fresh.
#[derive(Debug, Default)]
struct Slot {
    /// Policy changes committed so far.
    changes: AtomicU64,
    /// The value of `changes` the loaded snapshot includes.
    loaded: AtomicU64,
    reload: tokio::sync::Mutex<()>,
    engine: tokio::sync::OnceCell<Engine>,
}

pub struct AccessService {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    slots: RwLock<HashMap<TenantId, Arc<Slot>>>,
    pub log: AccessLogWriter,
}

impl std::fmt::Debug for AccessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessService").finish_non_exhaustive()
    }
}

/// A loaded engine, borrowed from its slot.
pub struct TenantEngine {
    slot: Arc<Slot>,
}

impl std::ops::Deref for TenantEngine {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        // Only built after the cell was initialised.
        self.slot.engine.get().unwrap_or_else(|| unreachable!("a TenantEngine is made from a loaded slot"))
    }
}

impl AccessService {
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, log: LogWriterConfig) -> AccessService {
        let writer = AccessLogWriter::spawn(store.clone(), keys.clone(), log);
        AccessService { store, keys, slots: RwLock::new(HashMap::new()), log: writer }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn slot(&self, tenant: TenantId) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&tenant) {
            return slot.clone();
        }
        self.slots.write().unwrap_or_else(std::sync::PoisonError::into_inner).entry(tenant).or_default().clone()
    }

    /// The tenant's engine, loaded on first use and brought up to date with every committed change.
    pub async fn engine(&self, tenant: TenantId) -> ApiResult<TenantEngine> {
        let slot = self.slot(tenant);
        slot.engine
            .get_or_try_init(|| async {
                let _reload = slot.reload.lock().await;
                let generation = slot.changes.load(Ordering::SeqCst);
                let snapshot = self.compile(tenant).await?;
                slot.loaded.store(generation, Ordering::SeqCst);
                Ok::<_, ApiError>(Engine::new(snapshot))
            })
            .await?;
        if slot.loaded.load(Ordering::SeqCst) < slot.changes.load(Ordering::SeqCst) {
            self.refresh(&slot, tenant).await?;
        }
        Ok(TenantEngine { slot })
    }

    /// Call after a write that can change a decision has committed.
    pub async fn changed(&self, tenant: TenantId) -> ApiResult<()> {
        let slot = self.slot(tenant);
        slot.changes.fetch_add(1, Ordering::SeqCst);
        if slot.engine.initialized() {
            self.refresh(&slot, tenant).await?;
        }
        Ok(())
    }

    async fn refresh(&self, slot: &Slot, tenant: TenantId) -> ApiResult<()> {
        let _reload = slot.reload.lock().await;
        let wanted = slot.changes.load(Ordering::SeqCst);
        if slot.loaded.load(Ordering::SeqCst) >= wanted {
            // Another reload that started after our change committed already ran.
            return Ok(());
        }
        let snapshot = self.compile(tenant).await?;
        if let Some(engine) = slot.engine.get() {
            engine.replace(snapshot);
        }
        slot.loaded.store(wanted, Ordering::SeqCst);
        Ok(())
    }

    async fn compile(&self, tenant: TenantId) -> ApiResult<Snapshot> {
        let started = std::time::Instant::now();
        let records = self.store.access_policy(tenant).await?;
        let mut policy = Policy::empty(tenant, self.keys.credential_keys(tenant));
        policy.sites = records.sites.into_iter().map(|(site, zone)| (site, zone.parse().unwrap_or(chrono_tz::Tz::UTC))).collect();
        policy.zones = records.zones;
        policy.points = records.points;
        policy.people = records.people;
        policy.credentials = records.credentials;
        policy.schedules = records.schedules;
        policy.holidays = records.holidays;
        policy.levels = records.levels;
        policy.grants = records.grants;
        policy.groups = records.groups;
        policy.denials = records.denials;
        policy.lockdowns = records.lockdowns;
        let snapshot =
            tokio::task::spawn_blocking(move || Snapshot::compile(&policy)).await.map_err(|err| ApiError::internal(&err))?;
        metrics::histogram!("gatehouse_access_policy_load_seconds").record(started.elapsed().as_secs_f64());
        Ok(snapshot)
    }
}

/// Now, to the microsecond: what both databases keep, so a log entry's hash survives the round trip.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
