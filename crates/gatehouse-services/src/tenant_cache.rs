//! Tenants by the name a request gives (id or slug), held in memory for a short
//! time so resolving the `Gatehouse-Tenant` header costs no database read on the
//! hot path. This node's own tenant changes clear it at once; changes made by
//! another node are seen within [`TENANT_CACHE_TTL`] (a cluster-wide bus will
//! push them sooner).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use gatehouse_domain::tenancy::Tenant;
use gatehouse_store::{Store, StoreResult};

pub const TENANT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Most names held; past it the cache starts over rather than grow without bound.
const TENANT_CACHE_ENTRIES_MAX: usize = 10_000;

pub struct TenantCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<String, (Arc<Tenant>, Instant)>>,
}

impl TenantCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, entries: RwLock::new(HashMap::new()) }
    }

    /// The tenant named `id_or_slug`, from memory when fresh, else from the store.
    pub async fn find(&self, id_or_slug: &str) -> StoreResult<Arc<Tenant>> {
        if let Ok(entries) = self.entries.read() {
            if let Some((tenant, fetched_at)) = entries.get(id_or_slug) {
                if fetched_at.elapsed() < TENANT_CACHE_TTL {
                    return Ok(tenant.clone());
                }
            }
        }
        let tenant = Arc::new(gatehouse_store::find_tenant(self.store.as_ref(), id_or_slug).await?);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= TENANT_CACHE_ENTRIES_MAX {
                entries.clear();
            }
            entries.insert(id_or_slug.to_owned(), (tenant.clone(), Instant::now()));
        }
        Ok(tenant)
    }

    /// Forgets everything: called after this node changes a tenant.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}
