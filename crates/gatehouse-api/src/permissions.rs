//! The permission every route needs, in one table. The authorizing middleware
//! looks each request up here by method and route template; a route missing
//! from the table is refused (deny by default), and the OpenAPI document shows
//! each operation's permission as `x-permission`, taken from this same table.

use gatehouse_domain::authz::Permission;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, unauthenticated (health, metrics, the spec, login).
    Public,
    /// Any authenticated caller: routes about the caller itself.
    Authenticated,
    /// A platform-level permission (held by platform roles, across tenants).
    Platform(&'static str),
    /// A permission over the whole tenant the call acts in. Site- and
    /// zone-scoped assignments do not reach these routes.
    Tenant(&'static str),
    /// A permission over something with a place in the tenant (a site, zone,
    /// unit or access point). Site- and zone-scoped assignments pass the route
    /// layer, and the handler checks the place of everything it touches
    /// ([`crate::scope`]).
    Located(&'static str),
}

impl Access {
    pub fn code(&self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Platform(code) | Access::Tenant(code) | Access::Located(code) => code,
        }
    }

    /// The permission, parsed; `None` for public routes.
    pub fn permission(&self) -> Option<Permission> {
        match self {
            Access::Public | Access::Authenticated => None,
            // Codes here are checked by a test; an unknown one would deny (never allow).
            Access::Platform(code) | Access::Tenant(code) | Access::Located(code) => Permission::parse(code).ok(),
        }
    }
}

use Access::*;

/// `(method, route template, access)` for every route.
pub const ROUTE_ACCESS: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/.well-known/jwks.json", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/refresh", Public),
    ("POST", "/api/v1/auth/logout", Authenticated),
    ("POST", "/api/v1/auth/mfa/totp/enroll", Authenticated),
    ("POST", "/api/v1/auth/mfa/totp/confirm", Authenticated),
    ("POST", "/api/v1/auth/mfa/totp/disable", Authenticated),
    ("POST", "/api/v1/auth/mfa/verify", Public),
    ("GET", "/api/v1/auth/me", Authenticated),
    ("GET", "/api/v1/auth/sessions", Authenticated),
    ("DELETE", "/api/v1/auth/sessions/{id}", Authenticated),
    ("POST", "/api/v1/accounts", Tenant("identity.account.create")),
    ("GET", "/api/v1/accounts", Tenant("identity.account.read")),
    ("GET", "/api/v1/accounts/{id}", Tenant("identity.account.read")),
    ("PATCH", "/api/v1/accounts/{id}", Tenant("identity.account.update")),
    ("POST", "/api/v1/accounts/{id}/password-reset", Tenant("identity.account.update")),
    ("GET", "/api/v1/accounts/{id}/sessions", Tenant("identity.session.read")),
    ("POST", "/api/v1/accounts/{id}/roles", Tenant("identity.account.update")),
    ("DELETE", "/api/v1/accounts/{id}/roles/{assignment_id}", Tenant("identity.account.update")),
    ("GET", "/api/v1/permissions", Tenant("identity.role.read")),
    ("POST", "/api/v1/roles", Tenant("identity.role.create")),
    ("GET", "/api/v1/roles", Tenant("identity.role.read")),
    ("GET", "/api/v1/roles/{name}", Tenant("identity.role.read")),
    ("PATCH", "/api/v1/roles/{name}", Tenant("identity.role.update")),
    ("DELETE", "/api/v1/roles/{name}", Tenant("identity.role.delete")),
    ("POST", "/api/v1/auth/password", Authenticated),
    ("POST", "/api/v1/auth/password/reset", Public),
    ("POST", "/api/v1/authz/explain", Tenant("identity.role.read")),
    ("POST", "/api/v1/api-keys", Tenant("identity.api_key.create")),
    ("GET", "/api/v1/api-keys", Tenant("identity.api_key.read")),
    ("DELETE", "/api/v1/api-keys/{id}", Tenant("identity.api_key.revoke")),
    ("POST", "/api/v1/tenants", Platform("platform.tenant.create")),
    ("GET", "/api/v1/tenants", Platform("platform.tenant.read")),
    ("GET", "/api/v1/tenants/{id}", Platform("platform.tenant.read")),
    ("PATCH", "/api/v1/tenants/{id}", Platform("platform.tenant.update")),
    ("DELETE", "/api/v1/tenants/{id}", Platform("platform.tenant.archive")),
    ("POST", "/api/v1/sites", Tenant("tenancy.site.create")),
    ("GET", "/api/v1/sites", Located("tenancy.site.read")),
    ("GET", "/api/v1/sites/{id}", Located("tenancy.site.read")),
    ("PATCH", "/api/v1/sites/{id}", Located("tenancy.site.update")),
    ("DELETE", "/api/v1/sites/{id}", Tenant("tenancy.site.delete")),
    ("POST", "/api/v1/zones", Located("tenancy.zone.create")),
    ("GET", "/api/v1/zones", Located("tenancy.zone.read")),
    ("GET", "/api/v1/zones/{id}", Located("tenancy.zone.read")),
    ("PATCH", "/api/v1/zones/{id}", Located("tenancy.zone.update")),
    ("DELETE", "/api/v1/zones/{id}", Located("tenancy.zone.delete")),
    ("POST", "/api/v1/units", Located("tenancy.unit.create")),
    ("GET", "/api/v1/units", Located("tenancy.unit.read")),
    ("GET", "/api/v1/units/{id}", Located("tenancy.unit.read")),
    ("PATCH", "/api/v1/units/{id}", Located("tenancy.unit.update")),
    ("DELETE", "/api/v1/units/{id}", Located("tenancy.unit.delete")),
    ("POST", "/api/v1/access-points", Located("tenancy.access_point.create")),
    ("GET", "/api/v1/access-points", Located("tenancy.access_point.read")),
    ("GET", "/api/v1/access-points/{id}", Located("tenancy.access_point.read")),
    ("PATCH", "/api/v1/access-points/{id}", Located("tenancy.access_point.update")),
    ("DELETE", "/api/v1/access-points/{id}", Located("tenancy.access_point.delete")),
    ("POST", "/api/v1/people", Tenant("people.person.create")),
    ("GET", "/api/v1/people", Tenant("people.person.read")),
    ("POST", "/api/v1/people/import", Tenant("people.person.import")),
    ("GET", "/api/v1/people/{id}", Tenant("people.person.read")),
    ("PATCH", "/api/v1/people/{id}", Tenant("people.person.update")),
    ("DELETE", "/api/v1/people/{id}", Tenant("people.person.archive")),
    ("GET", "/api/v1/audit", Tenant("audit.log.read")),
    ("GET", "/api/v1/platform/audit", Platform("audit.log.read")),
    ("POST", "/api/v1/credentials", Tenant("access.credential.create")),
    ("GET", "/api/v1/credentials", Tenant("access.credential.read")),
    ("GET", "/api/v1/credentials/{id}", Tenant("access.credential.read")),
    ("PATCH", "/api/v1/credentials/{id}", Tenant("access.credential.update")),
    ("DELETE", "/api/v1/credentials/{id}", Tenant("access.credential.delete")),
    ("POST", "/api/v1/schedules", Tenant("access.schedule.create")),
    ("GET", "/api/v1/schedules", Tenant("access.schedule.read")),
    ("GET", "/api/v1/schedules/{id}", Tenant("access.schedule.read")),
    ("PATCH", "/api/v1/schedules/{id}", Tenant("access.schedule.update")),
    ("DELETE", "/api/v1/schedules/{id}", Tenant("access.schedule.delete")),
    ("POST", "/api/v1/holidays", Tenant("access.schedule.create")),
    ("GET", "/api/v1/holidays", Tenant("access.schedule.read")),
    ("GET", "/api/v1/holidays/{id}", Tenant("access.schedule.read")),
    ("PATCH", "/api/v1/holidays/{id}", Tenant("access.schedule.update")),
    ("DELETE", "/api/v1/holidays/{id}", Tenant("access.schedule.delete")),
    ("POST", "/api/v1/access-levels", Tenant("access.level.create")),
    ("GET", "/api/v1/access-levels", Tenant("access.level.read")),
    ("GET", "/api/v1/access-levels/{id}", Tenant("access.level.read")),
    ("PATCH", "/api/v1/access-levels/{id}", Tenant("access.level.update")),
    ("DELETE", "/api/v1/access-levels/{id}", Tenant("access.level.delete")),
    ("POST", "/api/v1/grants", Tenant("access.grant.create")),
    ("GET", "/api/v1/grants", Tenant("access.grant.read")),
    ("GET", "/api/v1/grants/{id}", Tenant("access.grant.read")),
    ("DELETE", "/api/v1/grants/{id}", Tenant("access.grant.delete")),
    ("POST", "/api/v1/groups", Tenant("people.group.create")),
    ("GET", "/api/v1/groups", Tenant("people.group.read")),
    ("GET", "/api/v1/groups/{id}", Tenant("people.group.read")),
    ("PATCH", "/api/v1/groups/{id}", Tenant("people.group.update")),
    ("DELETE", "/api/v1/groups/{id}", Tenant("people.group.delete")),
    ("POST", "/api/v1/denials", Tenant("access.denial.create")),
    ("GET", "/api/v1/denials", Tenant("access.denial.read")),
    ("DELETE", "/api/v1/denials/{id}", Tenant("access.denial.delete")),
    ("GET", "/api/v1/access-points/{id}/door", Located("tenancy.access_point.read")),
    ("PUT", "/api/v1/access-points/{id}/door", Located("access.door.configure")),
    ("GET", "/api/v1/zones/{id}/rules", Located("tenancy.zone.read")),
    ("PUT", "/api/v1/zones/{id}/rules", Located("access.door.configure")),
    ("GET", "/api/v1/zones/{id}/occupancy", Located("access.presence.read")),
    ("POST", "/api/v1/access/forgive", Tenant("access.presence.forgive")),
    ("POST", "/api/v1/lockdowns", Tenant("access.lockdown.manage")),
    ("GET", "/api/v1/lockdowns", Tenant("access.log.read")),
    ("GET", "/api/v1/lockdowns/{id}", Tenant("access.log.read")),
    ("DELETE", "/api/v1/lockdowns/{id}", Tenant("access.lockdown.manage")),
    ("POST", "/api/v1/devices", Tenant("devices.device.create")),
    ("GET", "/api/v1/devices", Tenant("devices.device.read")),
    ("GET", "/api/v1/devices/{id}", Tenant("devices.device.read")),
    ("PATCH", "/api/v1/devices/{id}", Tenant("devices.device.update")),
    ("DELETE", "/api/v1/devices/{id}", Tenant("devices.device.delete")),
    ("POST", "/api/v1/devices/{id}/credentials", Tenant("devices.credentials.manage")),
    ("DELETE", "/api/v1/devices/{id}/credentials", Tenant("devices.credentials.manage")),
    ("POST", "/api/v1/devices/{id}/commands", Tenant("devices.command.send")),
    ("GET", "/api/v1/devices/{id}/commands", Tenant("devices.device.read")),
    ("GET", "/api/v1/devices/{id}/commands/{command_id}", Tenant("devices.device.read")),
    ("GET", "/api/v1/devices/{id}/telemetry", Tenant("devices.device.read")),
    ("POST", "/api/v1/access-points/{id}/unlock", Located("access.door.unlock")),
    ("POST", "/api/v1/access/decide", Tenant("access.decision.decide")),
    ("POST", "/api/v1/access/explain", Tenant("access.decision.explain")),
    ("GET", "/api/v1/access/log", Tenant("access.log.read")),
    ("GET", "/api/v1/access/log.csv", Tenant("access.log.read")),
    ("GET", "/api/v1/access/log/verify", Tenant("access.log.read")),
    // Today's events all come from the access log: who may read it may read them.
    ("GET", "/api/v1/events", Tenant("access.log.read")),
];

/// The access a route requires, or `None` if it declares none (and is refused).
pub fn access_for(method: &str, route: &str) -> Option<Access> {
    requirement_for(method, route).map(|(access, _)| access)
}

/// What a route requires and its permission already parsed: the authorizing
/// layer asks once per request, so neither is looked up by scanning. The table
/// has no HEAD rows: axum answers HEAD with the route's GET handler, so HEAD
/// needs what GET needs.
pub fn requirement_for(method: &str, route: &str) -> Option<(Access, Option<Permission>)> {
    let method = if method == "HEAD" { "GET" } else { method };
    route_index().get(&(method, route)).copied()
}

type RouteIndex = std::collections::HashMap<(&'static str, &'static str), (Access, Option<Permission>)>;

fn route_index() -> &'static RouteIndex {
    static INDEX: std::sync::OnceLock<RouteIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        ROUTE_ACCESS.iter().map(|(method, route, access)| ((*method, *route), (*access, access.permission()))).collect()
    })
}

/// Whether any method of this route template is in the table.
pub fn route_is_declared(route: &str) -> bool {
    ROUTE_ACCESS.iter().any(|(_, r, _)| *r == route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_permission_is_known_and_every_route_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for (method, route, access) in ROUTE_ACCESS {
            assert!(seen.insert((method, route)), "{method} {route} is declared twice");
            if !matches!(access, Access::Public | Access::Authenticated) {
                assert!(access.permission().is_some(), "{method} {route} needs unknown permission {}", access.code());
            }
        }
        let (_, spec) = crate::api_routes();
        let mut operations = 0;
        for (path, item) in spec.paths.paths.iter() {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (method, present) in methods {
                if present {
                    operations += 1;
                    assert!(access_for(method, path).is_some(), "{method} {path} declares no permission");
                }
            }
        }
        assert_eq!(operations, ROUTE_ACCESS.len(), "the table lists no route that does not exist");
    }
}
