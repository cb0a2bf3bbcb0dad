//! Who may do what: permissions, the built-in role hierarchy, scoped and
//! time-bound role assignments, and the decision (with its explanation).
//!
//! A permission is a code `module.resource.action`. Every known code has a
//! fixed bit, so a role's effective permissions are a [`PermissionSet`] (two
//! words) computed once, and a check is a few bit operations per assignment.
//! Roles form a hierarchy: each role holds its own permissions plus those of
//! every role below it. An assignment gives a role to a principal in one tenant
//! (or, for platform roles, in every tenant), over the whole tenant or a site
//! or zone subtree, optionally only between `valid_from` and `valid_until`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::RoleName;
use crate::{RoleId, SiteId, TenantId, ValidationError, ZoneId};

mod assignments;
mod custom_roles;

pub use assignments::*;
pub use custom_roles::*;

/// Every permission code Gatehouse knows, in bit order. Append only: the
/// position is the bit.
pub const PERMISSIONS: &[&str] = &[
    "platform.tenant.create",
    "platform.tenant.read",
    "platform.tenant.update",
    "platform.tenant.archive",
    "tenancy.site.create",
    "tenancy.site.read",
    "tenancy.site.update",
    "tenancy.site.delete",
    "tenancy.zone.create",
    "tenancy.zone.read",
    "tenancy.zone.update",
    "tenancy.zone.delete",
    "tenancy.unit.create",
    "tenancy.unit.read",
    "tenancy.unit.update",
    "tenancy.unit.delete",
    "tenancy.access_point.create",
    "tenancy.access_point.read",
    "tenancy.access_point.update",
    "tenancy.access_point.delete",
    "people.person.create",
    "people.person.read",
    "people.person.update",
    "people.person.archive",
    "people.person.import",
    "identity.account.create",
    "identity.account.read",
    "identity.account.update",
    "identity.account.disable",
    "identity.session.read",
    "identity.session.revoke",
    "identity.api_key.create",
    "identity.api_key.read",
    "identity.api_key.revoke",
    "identity.role.create",
    "identity.role.read",
    "identity.role.update",
    "identity.role.delete",
    "audit.log.read",
    "access.door.unlock",
    "access.log.read",
    "access.decision.explain",
    "access.lockdown.manage",
    "people.self.read",
    "visitors.invitation.create",
    "access.self_log.read",
    "access.credential.create",
    "access.credential.read",
    "access.credential.update",
    "access.credential.delete",
    "access.schedule.create",
    "access.schedule.read",
    "access.schedule.update",
    "access.schedule.delete",
    "access.level.create",
    "access.level.read",
    "access.level.update",
    "access.level.delete",
    "access.grant.create",
    "access.grant.read",
    "access.grant.delete",
    "people.group.create",
    "people.group.read",
    "people.group.update",
    "people.group.delete",
    "access.denial.create",
    "access.denial.read",
    "access.denial.delete",
    "access.door.configure",
    "access.decision.decide",
    "access.presence.read",
    "access.presence.forgive",
    "devices.device.create",
    "devices.device.read",
    "devices.device.update",
    "devices.device.delete",
    "devices.credentials.manage",
    "devices.command.send",
];

/// A known permission code, held as its bit position in [`PERMISSIONS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(u8);

impl Permission {
    /// The permission with this code, if Gatehouse knows it.
    pub fn parse(code: &str) -> Result<Permission, ValidationError> {
        PERMISSIONS.iter().position(|known| *known == code).and_then(|index| u8::try_from(index).ok()).map(Permission).ok_or_else(
            || {
                let shaped = code.split('.').count() == 3
                    && code.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                if shaped {
                    ValidationError::message(format!("'{code}' is not a known permission"))
                } else {
                    ValidationError::message(format!("'{code}' is not a permission code (module.resource.action)"))
                }
            },
        )
    }

    /// For codes written in the source: a typo is a programmer error, caught by tests.
    pub const fn from_index(index: u8) -> Permission {
        Permission(index)
    }

    pub fn code(&self) -> &'static str {
        PERMISSIONS.get(usize::from(self.0)).copied().unwrap_or("unknown.permission.code")
    }

    const fn bit(&self) -> u128 {
        1u128 << self.0
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Permission::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A set of permissions as bits; at most 128 codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u128);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> PermissionSet {
        PERMISSIONS
            .iter()
            .enumerate()
            .fold(PermissionSet::EMPTY, |set, (index, _)| set.with(Permission(u8::try_from(index).unwrap_or(u8::MAX))))
    }

    pub fn of(codes: &[&str]) -> Result<PermissionSet, ValidationError> {
        codes.iter().try_fold(PermissionSet::EMPTY, |set, code| Ok(set.with(Permission::parse(code)?)))
    }

    pub const fn with(self, permission: Permission) -> PermissionSet {
        PermissionSet(self.0 | permission.bit())
    }

    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    pub const fn contains(&self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is in this set.
    pub const fn includes(&self, other: PermissionSet) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        (0..PERMISSIONS.len())
            .filter_map(|index| u8::try_from(index).ok())
            .map(Permission)
            .filter(|permission| self.contains(*permission))
    }
}

/// The built-in roles, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuiltinRole {
    PlatformAdmin,
    TenantAdmin,
    SiteManager,
    SecuritySupervisor,
    SecurityOperator,
    Receptionist,
    Maintenance,
    Resident,
    Employee,
    Visitor,
}

impl BuiltinRole {
    pub const ALL: &'static [BuiltinRole] = &[
        BuiltinRole::PlatformAdmin,
        BuiltinRole::TenantAdmin,
        BuiltinRole::SiteManager,
        BuiltinRole::SecuritySupervisor,
        BuiltinRole::SecurityOperator,
        BuiltinRole::Receptionist,
        BuiltinRole::Maintenance,
        BuiltinRole::Resident,
        BuiltinRole::Employee,
        BuiltinRole::Visitor,
    ];

    pub const fn name(&self) -> &'static str {
        match self {
            BuiltinRole::PlatformAdmin => "platform_admin",
            BuiltinRole::TenantAdmin => "tenant_admin",
            BuiltinRole::SiteManager => "site_manager",
            BuiltinRole::SecuritySupervisor => "security_supervisor",
            BuiltinRole::SecurityOperator => "security_operator",
            BuiltinRole::Receptionist => "receptionist",
            BuiltinRole::Maintenance => "maintenance",
            BuiltinRole::Resident => "resident",
            BuiltinRole::Employee => "employee",
            BuiltinRole::Visitor => "visitor",
        }
    }

    pub fn parse(name: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.iter().copied().find(|role| role.name() == name)
    }

    /// The roles directly below this one, whose permissions it inherits.
    pub const fn inherits(&self) -> &'static [BuiltinRole] {
        match self {
            BuiltinRole::PlatformAdmin => &[BuiltinRole::TenantAdmin],
            BuiltinRole::TenantAdmin => &[BuiltinRole::SiteManager],
            BuiltinRole::SiteManager => &[BuiltinRole::SecuritySupervisor],
            BuiltinRole::SecuritySupervisor => &[BuiltinRole::SecurityOperator],
            BuiltinRole::SecurityOperator => &[BuiltinRole::Receptionist],
            BuiltinRole::Receptionist => &[BuiltinRole::Maintenance],
            BuiltinRole::Maintenance => &[BuiltinRole::Resident, BuiltinRole::Employee],
            BuiltinRole::Resident | BuiltinRole::Employee => &[BuiltinRole::Visitor],
            BuiltinRole::Visitor => &[],
        }
    }

    /// The permissions this role adds to those it inherits.
    pub fn own_permissions(&self) -> &'static [&'static str] {
        match self {
            BuiltinRole::PlatformAdmin => {
                &["platform.tenant.create", "platform.tenant.read", "platform.tenant.update", "platform.tenant.archive"]
            }
            BuiltinRole::TenantAdmin => &[
                "tenancy.site.create",
                "tenancy.site.delete",
                "identity.account.create",
                "identity.account.update",
                "identity.account.disable",
                "identity.session.revoke",
                "identity.api_key.create",
                "identity.api_key.read",
                "identity.api_key.revoke",
                "identity.role.create",
                "identity.role.update",
                "identity.role.delete",
            ],
            BuiltinRole::SiteManager => &[
                "tenancy.site.update",
                "tenancy.zone.create",
                "tenancy.zone.update",
                "tenancy.zone.delete",
                "tenancy.unit.create",
                "tenancy.unit.update",
                "tenancy.unit.delete",
                "tenancy.access_point.create",
                "tenancy.access_point.update",
                "tenancy.access_point.delete",
                "people.person.archive",
                "people.person.import",
                "identity.account.read",
                "identity.role.read",
                "access.schedule.create",
                "access.schedule.update",
                "access.schedule.delete",
                "access.level.create",
                "access.level.update",
                "access.level.delete",
                "access.door.configure",
                "devices.device.create",
                "devices.device.update",
                "devices.device.delete",
                "devices.credentials.manage",
                "devices.command.send",
            ],
            BuiltinRole::SecuritySupervisor => &[
                "access.lockdown.manage",
                "audit.log.read",
                "identity.session.read",
                "access.decision.explain",
                "access.credential.update",
                "access.credential.delete",
                "access.grant.create",
                "access.grant.delete",
                "people.group.create",
                "people.group.update",
                "people.group.delete",
                "access.denial.create",
                "access.denial.delete",
                "access.presence.forgive",
            ],
            BuiltinRole::SecurityOperator => &[
                "access.door.unlock",
                "access.log.read",
                "access.schedule.read",
                "access.level.read",
                "access.grant.read",
                "people.group.read",
                "access.denial.read",
                "access.decision.decide",
                "access.presence.read",
            ],
            // Reception issues cards and visitor QR codes; granting levels is security's.
            BuiltinRole::Receptionist => &[
                "people.person.create",
                "people.person.update",
                "people.person.read",
                "access.credential.create",
                "access.credential.read",
            ],
            BuiltinRole::Maintenance => &[
                "tenancy.site.read",
                "tenancy.zone.read",
                "tenancy.unit.read",
                "tenancy.access_point.read",
                "devices.device.read",
            ],
            // Self-service: a resident or employee invites visitors and sees their own history;
            // a visitor sees their own profile.
            BuiltinRole::Resident | BuiltinRole::Employee => &["visitors.invitation.create", "access.self_log.read"],
            BuiltinRole::Visitor => &["people.self.read"],
        }
    }

    /// Own permissions plus everything inherited, transitively.
    pub fn effective_permissions(&self) -> PermissionSet {
        // Every authorization asks, so each role's set is worked out once.
        static EFFECTIVE: std::sync::OnceLock<Vec<(BuiltinRole, PermissionSet)>> = std::sync::OnceLock::new();
        let table = EFFECTIVE.get_or_init(|| BuiltinRole::ALL.iter().map(|role| (*role, role.gather_permissions())).collect());
        table.iter().find(|(role, _)| role == self).map_or_else(|| self.gather_permissions(), |(_, set)| *set)
    }

    fn gather_permissions(&self) -> PermissionSet {
        let own = self
            .own_permissions()
            .iter()
            .filter_map(|code| Permission::parse(code).ok())
            .fold(PermissionSet::EMPTY, PermissionSet::with);
        self.inherits().iter().fold(own, |set, junior| set.union(junior.gather_permissions()))
    }

    /// Platform roles are held across every tenant.
    pub const fn is_platform(&self) -> bool {
        matches!(self, BuiltinRole::PlatformAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }
    fn tenant(n: u128) -> TenantId {
        TenantId::from_uuid(Uuid::from_u128(n))
    }
    fn site(n: u128) -> SiteId {
        SiteId::from_uuid(Uuid::from_u128(n))
    }
    fn zone(n: u128) -> ZoneId {
        ZoneId::from_uuid(Uuid::from_u128(n))
    }
    fn perm(code: &str) -> Permission {
        Permission::parse(code).unwrap()
    }
    fn assign(role: BuiltinRole, tenant_id: Option<TenantId>, scope: Scope) -> Assignment {
        Assignment {
            id: Uuid::now_v7(),
            role_name: role.name().to_owned(),
            permissions: role.effective_permissions(),
            tenant_id,
            scope,
            valid_from: None,
            valid_until: None,
        }
    }

    #[test]
    fn every_code_is_well_formed_unique_and_fits_the_set() {
        assert!(PERMISSIONS.len() <= 128);
        let mut seen = std::collections::HashSet::new();
        for code in PERMISSIONS {
            assert!(seen.insert(code), "{code} twice");
            assert_eq!(Permission::parse(code).map(|p| p.code()), Ok(*code));
        }
        for role in BuiltinRole::ALL {
            assert_eq!(RoleName::parse(role.name()).map(|name| name.builtin()), Ok(Some(*role)));
            for code in role.own_permissions() {
                assert!(Permission::parse(code).is_ok(), "{} names unknown {code}", role.name());
            }
        }
        assert!(Permission::parse("people.person.fly").unwrap_err().message.contains("not a known permission"));
        assert!(Permission::parse("people").unwrap_err().message.contains("module.resource.action"));
    }

    #[test]
    fn the_hierarchy_inherits_downward_and_never_upward() {
        let ordered = [
            BuiltinRole::Visitor,
            BuiltinRole::Resident,
            BuiltinRole::Maintenance,
            BuiltinRole::Receptionist,
            BuiltinRole::SecurityOperator,
            BuiltinRole::SecuritySupervisor,
            BuiltinRole::SiteManager,
            BuiltinRole::TenantAdmin,
            BuiltinRole::PlatformAdmin,
        ];
        for pair in ordered.windows(2) {
            let (junior, senior) = (pair[0].effective_permissions(), pair[1].effective_permissions());
            assert_eq!(junior.union(senior), senior, "{} holds all of {}", pair[1].name(), pair[0].name());
            assert_ne!(junior, senior, "{} adds something over {}", pair[1].name(), pair[0].name());
        }
        assert_eq!(BuiltinRole::PlatformAdmin.effective_permissions(), PermissionSet::all(), "platform_admin holds everything");
        let operator = BuiltinRole::SecurityOperator.effective_permissions();
        assert!(operator.contains(perm("access.door.unlock")) && operator.contains(perm("tenancy.zone.read")));
        assert!(!operator.contains(perm("tenancy.zone.delete")) && !operator.contains(perm("audit.log.read")));
        assert!(BuiltinRole::Maintenance.effective_permissions().contains(perm("tenancy.access_point.read")));
        assert_eq!(BuiltinRole::Employee.effective_permissions(), BuiltinRole::Resident.effective_permissions());
    }

    #[test]
    fn deny_by_default() {
        let decision = decide(&[], tenant(1), perm("tenancy.site.read"), Target::Tenant, now());
        assert_eq!((decision.allowed, decision.reason), (false, DecisionReason::NoAssignment));
    }

    #[test]
    fn a_role_of_tenant_a_is_nothing_in_tenant_b() {
        let admin_of_a = assign(BuiltinRole::TenantAdmin, Some(tenant(1)), Scope::Tenant);
        assert!(decide(std::slice::from_ref(&admin_of_a), tenant(1), perm("tenancy.site.create"), Target::Tenant, now()).allowed);
        let in_b = decide(&[admin_of_a], tenant(2), perm("tenancy.site.create"), Target::Tenant, now());
        assert_eq!((in_b.allowed, in_b.reason), (false, DecisionReason::NoAssignment));
        let platform = assign(BuiltinRole::PlatformAdmin, None, Scope::Tenant);
        assert!(holds_platform(std::slice::from_ref(&platform), perm("platform.tenant.create"), now()));
        assert!(!holds_platform(
            std::slice::from_ref(&assign(BuiltinRole::TenantAdmin, Some(tenant(1)), Scope::Tenant)),
            perm("tenancy.site.create"),
            now()
        ));
        assert!(decide(&[platform], tenant(2), perm("tenancy.site.create"), Target::Tenant, now()).allowed);
    }

    #[test]
    fn an_operator_scoped_to_site_1_cannot_act_on_site_2() {
        let operator = assign(BuiltinRole::SecurityOperator, Some(tenant(1)), Scope::Site(site(1)));
        let unlock = perm("access.door.unlock");
        let on_site_1 = Target::Located { site: site(1), zones: &[zone(10)] };
        let on_site_2 = Target::Located { site: site(2), zones: &[zone(20)] };
        assert!(decide(std::slice::from_ref(&operator), tenant(1), unlock, on_site_1, now()).allowed);
        let refused = decide(std::slice::from_ref(&operator), tenant(1), unlock, on_site_2, now());
        assert_eq!((refused.allowed, refused.reason), (false, DecisionReason::OutOfScope));
        assert_eq!(refused.assignment_id, Some(operator.id));
        // Nor tenant-wide operations.
        assert!(!decide(&[operator], tenant(1), unlock, Target::Tenant, now()).allowed);
    }

    #[test]
    fn a_zone_scope_covers_its_subtree_only() {
        let guard = assign(BuiltinRole::SecurityOperator, Some(tenant(1)), Scope::Zone(zone(10)));
        let unlock = perm("access.door.unlock");
        // A door in zone 12, inside 11, inside 10.
        let inside = Target::Located { site: site(1), zones: &[zone(12), zone(11), zone(10)] };
        let sibling = Target::Located { site: site(1), zones: &[zone(13), zone(9)] };
        assert!(decide(std::slice::from_ref(&guard), tenant(1), unlock, inside, now()).allowed);
        assert!(!decide(&[guard], tenant(1), unlock, sibling, now()).allowed);
    }

    #[test]
    fn a_time_bound_assignment_works_only_inside_its_window() {
        let mut temp = assign(BuiltinRole::Receptionist, Some(tenant(1)), Scope::Tenant);
        temp.valid_from = Some(now() - chrono::Duration::hours(1));
        temp.valid_until = Some(now());
        let read = perm("people.person.read");
        let before_end =
            decide(std::slice::from_ref(&temp), tenant(1), read, Target::Tenant, now() - chrono::Duration::seconds(1));
        assert!(before_end.allowed);
        let at_end = decide(std::slice::from_ref(&temp), tenant(1), read, Target::Tenant, now());
        assert_eq!((at_end.allowed, at_end.reason), (false, DecisionReason::OutsideValidity), "valid_until is exclusive");
        let too_early = decide(&[temp], tenant(1), read, Target::Tenant, now() - chrono::Duration::hours(2));
        assert_eq!(too_early.reason, DecisionReason::OutsideValidity);
    }

    #[test]
    fn explanations_name_the_deciding_assignment() {
        let site_manager = assign(BuiltinRole::SiteManager, Some(tenant(1)), Scope::Site(site(1)));
        let admin = assign(BuiltinRole::TenantAdmin, Some(tenant(1)), Scope::Tenant);
        let target = Target::Located { site: site(1), zones: &[] };
        let decision = decide(&[site_manager, admin.clone()], tenant(1), perm("tenancy.zone.create"), target, now());
        assert!(decision.allowed);
        assert_eq!(decision.assignment_id, Some(admin.id), "the broadest grant is named");
        assert_eq!(decision.role.as_deref(), Some("tenant_admin"));
        let visitor = assign(BuiltinRole::Visitor, Some(tenant(1)), Scope::Tenant);
        let lacking = decide(&[visitor], tenant(1), perm("audit.log.read"), Target::Tenant, now());
        assert_eq!(lacking.reason, DecisionReason::RoleLacksPermission);
    }

    #[test]
    fn permitted_scopes_tell_lists_what_to_show() {
        let a = assign(BuiltinRole::SecurityOperator, Some(tenant(1)), Scope::Site(site(1)));
        let b = assign(BuiltinRole::Maintenance, Some(tenant(1)), Scope::Zone(zone(5)));
        let other = assign(BuiltinRole::TenantAdmin, Some(tenant(2)), Scope::Tenant);
        let scopes = permitted_scopes(&[a, b, other], tenant(1), perm("tenancy.access_point.read"), now());
        assert_eq!(scopes, vec![Scope::Site(site(1)), Scope::Zone(zone(5))]);
        let platform = assign(BuiltinRole::PlatformAdmin, None, Scope::Tenant);
        let tenant_bound = assign(BuiltinRole::SecurityOperator, Some(tenant(1)), Scope::Site(site(1)));
        let everywhere = permitted_scopes(&[tenant_bound, platform], ForTenant::Every, perm("tenancy.access_point.read"), now());
        assert_eq!(everywhere, vec![Scope::Tenant], "only the platform's assignment holds in every tenant");
    }
}
