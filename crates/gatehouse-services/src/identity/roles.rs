//! The role catalogs of tenants (built-in roles plus each tenant's own), held
//! in memory so that resolving an API key's or a session's role costs no
//! database read; a tenant's catalog is reloaded after any change to its roles.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use gatehouse_domain::authz::{PermissionSet, RoleCatalog};
use gatehouse_domain::values::RoleName;
use gatehouse_domain::TenantId;
use gatehouse_store::{Store, StoreResult};

use crate::error::{ServiceError, ServiceResult};

#[derive(Default)]
pub struct RoleCatalogs {
    catalogs: RwLock<HashMap<TenantId, Arc<RoleCatalog>>>,
}

impl RoleCatalogs {
    /// The roles that can be held in `tenant`; built-in roles only outside any tenant.
    pub async fn for_tenant(&self, store: &dyn Store, tenant: Option<TenantId>) -> StoreResult<Arc<RoleCatalog>> {
        let Some(tenant) = tenant else { return Ok(Arc::new(RoleCatalog::builtin())) };
        if let Some(catalog) = self.catalogs.read().ok().and_then(|catalogs| catalogs.get(&tenant).cloned()) {
            return Ok(catalog);
        }
        let catalog = Arc::new(RoleCatalog::with_custom(&store.role_list(tenant).await?));
        if let Ok(mut catalogs) = self.catalogs.write() {
            catalogs.insert(tenant, catalog.clone());
        }
        Ok(catalog)
    }

    /// Drops a tenant's catalog after its roles changed; the next use reloads it.
    pub fn forget(&self, tenant: TenantId) {
        if let Ok(mut catalogs) = self.catalogs.write() {
            catalogs.remove(&tenant);
        }
    }
}

/// Checks that a caller holding `held` (tenant-wide) may give `role` here, and
/// returns what the role grants. Unknown and platform roles are client mistakes
/// about `field`; a role stronger than the caller is refused.
pub fn check_grantable(catalog: &RoleCatalog, role: &RoleName, held: PermissionSet, field: &str) -> ServiceResult<PermissionSet> {
    if role.builtin().is_some_and(|builtin| builtin.is_platform()) {
        return Err(ServiceError::validation(field, format!("{role} cannot be given inside a tenant")));
    }
    let granted = catalog.permissions(role).ok_or_else(|| {
        ServiceError::validation(
            field,
            format!("no role '{role}' in this tenant (a built-in role, or one created at /api/v1/roles)"),
        )
    })?;
    if !held.includes(granted) {
        return Err(ServiceError::forbidden(format!("giving {role} needs every permission it holds, tenant-wide")));
    }
    Ok(granted)
}
