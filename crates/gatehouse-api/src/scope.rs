//! How far a caller's permission reaches inside its tenant, for routes that act
//! on things with a place (sites, zones, units, access points).
//!
//! The route layer lets a site- or zone-scoped assignment through to such a
//! route (declared [`crate::permissions::Access::Located`]) and records its
//! scopes as a [`Reach`]. The handler then resolves the reach once into the
//! concrete sites and zones it covers ([`Within`]) and checks every place it
//! reads or writes: the thing itself, and where a change would move it.
//! Lists are filtered in the query, so a page never holds what the caller may
//! not see.

use std::collections::HashSet;

use gatehouse_domain::authz::{Permission, Scope};
use gatehouse_domain::{AccessPointId, SiteId, ZoneId};

use crate::auth::{Reach, TenantContext};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The sites and zones a scoped caller reaches: a site scope reaches the site
/// and every zone in it; a zone scope reaches the zone and every zone below it.
#[derive(Debug, Clone)]
pub struct Within {
    permission: Permission,
    sites: HashSet<SiteId>,
    zones: HashSet<ZoneId>,
}

impl Within {
    pub fn sites(&self) -> Vec<SiteId> {
        self.sites.iter().copied().collect()
    }

    pub fn zones(&self) -> Vec<ZoneId> {
        self.zones.iter().copied().collect()
    }

    pub fn check_site(&self, site: SiteId) -> ApiResult<()> {
        if self.sites.contains(&site) {
            Ok(())
        } else {
            Err(self.refusal("site", &site.to_string()))
        }
    }

    pub fn check_zone(&self, zone: ZoneId) -> ApiResult<()> {
        if self.zones.contains(&zone) {
            Ok(())
        } else {
            Err(self.refusal("zone", &zone.to_string()))
        }
    }

    fn refusal(&self, kind: &str, id: &str) -> ApiError {
        ApiError::forbidden(format!(
            "requires {} over {kind} {id}; the caller holds it only over other sites or zones (out_of_scope)",
            self.permission
        ))
    }
}

impl TenantContext {
    /// The sites and zones this caller reaches, or `None` when it reaches the whole tenant.
    pub async fn within(&self, state: &AppState) -> ApiResult<Option<Within>> {
        let Reach::Scopes(scopes) = self.reach() else { return Ok(None) };
        let mut sites = HashSet::new();
        let mut roots = Vec::new();
        for scope in scopes.iter() {
            match scope {
                Scope::Tenant => return Ok(None),
                Scope::Site(site) => {
                    sites.insert(*site);
                }
                Scope::Zone(zone) => roots.push(*zone),
            }
        }
        let site_list: Vec<SiteId> = sites.iter().copied().collect();
        let zones = state.store.zones_within(self.tenant_id(), &site_list, &roots).await?.into_iter().collect();
        Ok(Some(Within { permission: self.permission(), sites, zones }))
    }

    /// Refuses unless the caller reaches this site.
    pub async fn require_site(&self, state: &AppState, site: SiteId) -> ApiResult<()> {
        match self.within(state).await? {
            Some(within) => within.check_site(site),
            None => Ok(()),
        }
    }

    /// Refuses unless the caller reaches the access point's zone (a tenant-wide caller
    /// reaches every access point, and one that does not exist is for the handler to find).
    pub async fn require_point(&self, state: &AppState, point: AccessPointId) -> ApiResult<()> {
        if let Some(within) = self.within(state).await? {
            within.check_zone(state.store.access_point_get(self.tenant_id(), point).await?.zone_id)?;
        }
        Ok(())
    }

    /// Refuses unless the caller reaches this zone.
    pub async fn require_zone(&self, state: &AppState, zone: ZoneId) -> ApiResult<()> {
        match self.within(state).await? {
            Some(within) => within.check_zone(zone),
            None => Ok(()),
        }
    }
}
