//! Scoped, time-bound role assignments and the decision over them.

use super::*;

/// Where an assignment applies inside its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// The whole tenant.
    Tenant,
    /// One site and everything in it.
    Site(SiteId),
    /// One zone and every zone nested in it.
    Zone(ZoneId),
}

/// Where the thing being acted on sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Tenant-wide: creating a site, listing everything, the tenant's settings.
    Tenant,
    /// Inside a site, and (for zone-level things) inside the zones listed, nearest first.
    Located { site: SiteId, zones: &'a [ZoneId] },
}

impl Scope {
    pub fn covers(&self, target: Target<'_>) -> bool {
        match (self, target) {
            (Scope::Tenant, _) => true,
            (Scope::Site(site), Target::Located { site: target_site, .. }) => *site == target_site,
            (Scope::Zone(zone), Target::Located { zones, .. }) => zones.contains(zone),
            (Scope::Site(_) | Scope::Zone(_), Target::Tenant) => false,
        }
    }
}

/// A role given to a principal.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Identifies the assignment in explanations.
    pub id: uuid::Uuid,
    pub role_name: String,
    /// The role's effective permissions, resolved when the assignment was loaded.
    pub permissions: PermissionSet,
    /// `None` for platform roles, which apply in every tenant.
    pub tenant_id: Option<TenantId>,
    pub scope: Scope,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl Assignment {
    fn in_window(&self, now: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| now >= from) && self.valid_until.is_none_or(|until| now < until)
    }

    fn in_tenant(&self, tenant: TenantId) -> bool {
        self.tenant_id.is_none_or(|own| own == tenant)
    }

    fn holds_for(&self, tenant: ForTenant) -> bool {
        match tenant {
            ForTenant::One(tenant) => self.in_tenant(tenant),
            ForTenant::Every => self.tenant_id.is_none(),
        }
    }
}

/// The tenant a permission is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForTenant {
    /// This tenant: its own assignments and the platform's count.
    One(TenantId),
    /// Every tenant at once (a caller bound to none): only platform assignments, which hold in all.
    Every,
}

impl From<TenantId> for ForTenant {
    fn from(tenant: TenantId) -> Self {
        ForTenant::One(tenant)
    }
}

/// Why a check came out as it did, most specific first. Stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    Granted,
    /// No assignment at all in this tenant.
    NoAssignment,
    /// Assignments exist, but none of their roles holds the permission.
    RoleLacksPermission,
    /// A role holds it, but only over other sites or zones.
    OutOfScope,
    /// A role holds it here, but not at this time.
    OutsideValidity,
}

/// The answer to "may this principal do this, here, now?", with what decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub allowed: bool,
    pub reason: DecisionReason,
    /// The assignment that granted, or the one that came closest.
    pub assignment_id: Option<uuid::Uuid>,
    pub role: Option<String>,
    pub scope: Option<Scope>,
}

/// Decides one permission for one target at one instant. Pure: `now` is given.
///
/// Deny by default: only an assignment in the tenant, inside its validity
/// window, whose role holds the permission and whose scope covers the target grants.
pub fn decide(
    assignments: &[Assignment],
    tenant: TenantId,
    permission: Permission,
    target: Target<'_>,
    now: DateTime<Utc>,
) -> Decision {
    fn rank(reason: DecisionReason) -> u8 {
        match reason {
            DecisionReason::OutsideValidity => 3,
            DecisionReason::OutOfScope => 2,
            DecisionReason::RoleLacksPermission => 1,
            _ => 0,
        }
    }
    let mut closest: Option<(&Assignment, DecisionReason)> = None;
    // Broadest scope first, so an explanation names the tenant-wide grant when there is one.
    let mut ordered: Vec<&Assignment> = assignments.iter().filter(|a| a.in_tenant(tenant)).collect();
    ordered.sort_by_key(|a| match a.scope {
        Scope::Tenant => 0,
        Scope::Site(_) => 1,
        Scope::Zone(_) => 2,
    });
    for assignment in ordered {
        let refusal = if !assignment.permissions.contains(permission) {
            DecisionReason::RoleLacksPermission
        } else if !assignment.scope.covers(target) {
            DecisionReason::OutOfScope
        } else if !assignment.in_window(now) {
            DecisionReason::OutsideValidity
        } else {
            return Decision {
                allowed: true,
                reason: DecisionReason::Granted,
                assignment_id: Some(assignment.id),
                role: Some(assignment.role_name.clone()),
                scope: Some(assignment.scope),
            };
        };
        if closest.is_none_or(|(_, current)| rank(refusal) > rank(current)) {
            closest = Some((assignment, refusal));
        }
    }
    match closest {
        Some((assignment, reason)) => Decision {
            allowed: false,
            reason,
            assignment_id: Some(assignment.id),
            role: Some(assignment.role_name.clone()),
            scope: Some(assignment.scope),
        },
        None => Decision { allowed: false, reason: DecisionReason::NoAssignment, assignment_id: None, role: None, scope: None },
    }
}

/// Whether a platform-level assignment (one tied to no tenant) grants `permission` at `now`.
pub fn holds_platform(assignments: &[Assignment], permission: Permission, now: DateTime<Utc>) -> bool {
    assignments.iter().any(|a| a.tenant_id.is_none() && a.in_window(now) && a.permissions.contains(permission))
}

/// The scopes in which the principal holds `permission` right now: what a list
/// may show. Empty means nothing; containing [`Scope::Tenant`] means everything.
pub fn permitted_scopes(
    assignments: &[Assignment],
    tenant: impl Into<ForTenant>,
    permission: Permission,
    now: DateTime<Utc>,
) -> Vec<Scope> {
    let tenant = tenant.into();
    assignments
        .iter()
        .filter(|a| a.holds_for(tenant) && a.in_window(now) && a.permissions.contains(permission))
        .map(|a| a.scope)
        .collect()
}
