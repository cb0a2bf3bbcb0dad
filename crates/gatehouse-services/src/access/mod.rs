//! Access decisions for both edges: each tenant's [`Engine`] kept in memory and
//! reloaded whenever its policy changes, and the group-committing access log.
//!
//! Freshness: every write that can change a decision calls
//! [`AccessService::changed`] after its transaction commits. That bumps the
//! tenant's change counter and, if the tenant's engine is loaded, reloads it
//! before returning, so the admin call that suspends a credential returns only
//! once the next decision refuses it. A reload records the counter value it
//! started from; a decision that finds the loaded value behind the counter (a
//! change that raced a first load) reloads before deciding.
//!
//! Changes written by another process (the command line, another node) are seen
//! through the database's policy versions, which triggers move forward with every
//! change to what a decision reads: each snapshot records the version it was
//! compiled from, and [`AccessService::follow_external_changes`] reloads a loaded
//! tenant whose version in the database is ahead of it.

pub mod decision;
mod log_writer;
pub mod policy_writes;
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

use crate::error::{ServiceError, ServiceResult};
use crate::identity::keys::KeyRing;

/// How often a running server looks for policy changes committed by other processes:
/// what the command line or another node changes is decided on within about this long.
pub const POLICY_FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// One tenant's engine and the bookkeeping that keeps it fresh.
#[derive(Debug, Default)]
struct Slot {
    /// Policy changes committed so far.
    changes: AtomicU64,
    /// The value of `changes` the loaded snapshot includes.
    loaded: AtomicU64,
    /// The database's policy version the loaded snapshot was compiled from.
    loaded_version: AtomicU64,
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
    pub async fn engine(&self, tenant: TenantId) -> ServiceResult<TenantEngine> {
        let slot = self.slot(tenant);
        slot.engine
            .get_or_try_init(|| async {
                let _reload = slot.reload.lock().await;
                let generation = slot.changes.load(Ordering::SeqCst);
                let (snapshot, version) = self.compile(tenant).await?;
                slot.loaded.store(generation, Ordering::SeqCst);
                slot.loaded_version.store(version, Ordering::SeqCst);
                Ok::<_, ServiceError>(Engine::new(snapshot))
            })
            .await?;
        if slot.loaded.load(Ordering::SeqCst) < slot.changes.load(Ordering::SeqCst) {
            self.refresh(&slot, tenant).await?;
        }
        Ok(TenantEngine { slot })
    }

    /// Call after a write that can change a decision has committed (only [`policy_writes`] does).
    pub(super) async fn changed(&self, tenant: TenantId) -> ServiceResult<()> {
        let slot = self.slot(tenant);
        slot.changes.fetch_add(1, Ordering::SeqCst);
        if slot.engine.initialized() {
            self.refresh(&slot, tenant).await?;
        }
        Ok(())
    }

    async fn refresh(&self, slot: &Slot, tenant: TenantId) -> ServiceResult<()> {
        let _reload = slot.reload.lock().await;
        let wanted = slot.changes.load(Ordering::SeqCst);
        if slot.loaded.load(Ordering::SeqCst) >= wanted {
            // Another reload that started after our change committed already ran.
            return Ok(());
        }
        let (snapshot, version) = self.compile(tenant).await?;
        if let Some(engine) = slot.engine.get() {
            engine.replace(snapshot);
        }
        slot.loaded.store(wanted, Ordering::SeqCst);
        slot.loaded_version.store(version, Ordering::SeqCst);
        Ok(())
    }

    /// Keeps every loaded engine up to date with changes committed by other processes:
    /// every `every`, the tenants' policy versions are read and a loaded tenant whose
    /// version is ahead of its snapshot's is reloaded. Stops when the service is dropped.
    pub fn follow_external_changes(self: &Arc<Self>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(service) = service.upgrade() else { return };
                if let Err(err) = service.catch_up().await {
                    tracing::warn!(error = %err, "could not check for policy changes made elsewhere; trying again");
                }
            }
        })
    }

    /// One look at the database's policy versions; reloads the loaded tenants that are behind.
    async fn catch_up(&self) -> ServiceResult<()> {
        for (tenant, version) in self.store.policy_versions().await? {
            let slot = self.slots.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&tenant).cloned();
            let Some(slot) = slot else { continue };
            if slot.engine.initialized() && slot.loaded_version.load(Ordering::SeqCst) < version {
                tracing::debug!(%tenant, version, "policy changed elsewhere; reloading");
                self.changed(tenant).await?;
            }
        }
        Ok(())
    }

    async fn compile(&self, tenant: TenantId) -> ServiceResult<(Snapshot, u64)> {
        let started = std::time::Instant::now();
        let stored = self.store.access_policy(tenant).await?;
        let version = stored.version;
        let policy = Policy::new(tenant, self.keys.credential_keys(tenant), stored.records);
        let snapshot =
            tokio::task::spawn_blocking(move || Snapshot::compile(&policy)).await.map_err(|err| ServiceError::internal(&err))?;
        metrics::histogram!("gatehouse_access_policy_load_seconds").record(started.elapsed().as_secs_f64());
        Ok((snapshot, version))
    }
}

/// Now, to the microsecond: what both databases keep, so a log entry's hash survives the round trip.
pub fn now_micros() -> DateTime<Utc> {
    to_micros(Utc::now())
}

/// An instant cut to the microsecond (see [`now_micros`]).
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}
