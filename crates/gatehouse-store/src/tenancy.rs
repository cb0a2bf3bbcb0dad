//! The tenancy area: who owns what, and where things are.

use async_trait::async_trait;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::*;
use gatehouse_domain::{AccessPointId, SiteId, TenantId, UnitId, ZoneId};

use crate::*;

/// Tenants (platform level) and, in each tenant, its sites, zone trees, units
/// and access points.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    async fn tenant_create(&self, new: &NewTenant, change: &ChangeContext) -> StoreResult<Tenant>;

    async fn tenant_get(&self, id: TenantId) -> StoreResult<Tenant>;

    async fn tenant_get_by_slug(&self, slug: &str) -> StoreResult<Tenant>;

    async fn tenant_list(&self, filter: &TenantFilter, page: PageRequest) -> StoreResult<Page<Tenant>>;

    async fn tenant_update(&self, id: TenantId, patch: &TenantPatch, change: &ChangeContext) -> StoreResult<Tenant>;

    async fn site_create(&self, tenant: TenantId, new: &NewSite, change: &ChangeContext) -> StoreResult<Site>;

    async fn site_get(&self, tenant: TenantId, id: SiteId) -> StoreResult<Site>;

    async fn site_list(&self, tenant: TenantId, filter: &SiteFilter, page: PageRequest) -> StoreResult<Page<Site>>;

    async fn site_update(&self, tenant: TenantId, id: SiteId, patch: &SitePatch, change: &ChangeContext) -> StoreResult<Site>;

    /// Fails with [`StoreError::InUse`] while the site has zones.
    async fn site_delete(&self, tenant: TenantId, id: SiteId, change: &ChangeContext) -> StoreResult<()>;

    async fn zone_create(&self, tenant: TenantId, new: &NewZone, change: &ChangeContext) -> StoreResult<Zone>;

    async fn zone_get(&self, tenant: TenantId, id: ZoneId) -> StoreResult<Zone>;

    async fn zone_list(&self, tenant: TenantId, filter: &ZoneFilter, page: PageRequest) -> StoreResult<Page<Zone>>;

    /// Every zone in these sites and in the subtrees of these zones: the zones
    /// a site- or zone-scoped caller reaches.
    async fn zones_within(&self, tenant: TenantId, sites: &[SiteId], zones: &[ZoneId]) -> StoreResult<Vec<ZoneId>>;

    async fn zone_update(&self, tenant: TenantId, id: ZoneId, patch: &ZonePatch, change: &ChangeContext) -> StoreResult<Zone>;

    /// Fails with [`StoreError::InUse`] while the zone holds zones, units or access points.
    async fn zone_delete(&self, tenant: TenantId, id: ZoneId, change: &ChangeContext) -> StoreResult<()>;

    async fn unit_create(&self, tenant: TenantId, new: &NewUnit, change: &ChangeContext) -> StoreResult<Unit>;

    async fn unit_get(&self, tenant: TenantId, id: UnitId) -> StoreResult<Unit>;

    async fn unit_list(&self, tenant: TenantId, filter: &UnitFilter, page: PageRequest) -> StoreResult<Page<Unit>>;

    async fn unit_update(&self, tenant: TenantId, id: UnitId, patch: &UnitPatch, change: &ChangeContext) -> StoreResult<Unit>;

    /// Fails with [`StoreError::InUse`] while people belong to the unit.
    async fn unit_delete(&self, tenant: TenantId, id: UnitId, change: &ChangeContext) -> StoreResult<()>;

    async fn access_point_create(
        &self,
        tenant: TenantId,
        new: &NewAccessPoint,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint>;

    async fn access_point_get(&self, tenant: TenantId, id: AccessPointId) -> StoreResult<AccessPoint>;

    async fn access_point_list(
        &self,
        tenant: TenantId,
        filter: &AccessPointFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AccessPoint>>;

    async fn access_point_update(
        &self,
        tenant: TenantId,
        id: AccessPointId,
        patch: &AccessPointPatch,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint>;

    async fn access_point_delete(&self, tenant: TenantId, id: AccessPointId, change: &ChangeContext) -> StoreResult<()>;
}
