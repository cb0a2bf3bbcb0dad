//! Tenants and the physical layout they own: sites > zones (nested) > units and access points.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{Name, Slug, TimeZone};
use crate::{AccessPointId, SiteId, TenantId, UnitId, ZoneId};

/// Declares a closed set of lower-case codes that travel as strings on every edge
/// (JSON, SQL, CSV) and parse back with a message that lists the accepted codes.
#[macro_export]
macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// The accepted codes, for error messages: `a|b|c`.
            pub fn expected() -> String {
                [$($code),+].join("|")
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    other => Err($crate::ValidationError::message(format!(
                        "'{other}' is not one of {}", Self::expected()
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub use code_enum;

code_enum!(
    /// Whether a tenant may use the platform. A suspended or archived tenant's calls get 403.
    TenantStatus { Active => "active", Suspended => "suspended", Archived => "archived" }
);
code_enum!(
    /// What a zone is. Purely descriptive: nesting rules are the same for every kind.
    ZoneKind { Building => "building", Floor => "floor", Area => "area", Parking => "parking", Other => "other" }
);
code_enum!(
    /// The kind of barrier an access point controls.
    AccessPointKind {
        Door => "door",
        Gate => "gate",
        Barrier => "barrier",
        Turnstile => "turnstile",
        ElevatorFloor => "elevator_floor",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub name: Name,
    pub slug: Slug,
    pub status: TenantStatus,
    /// Accounts holding any of these roles here must enrol a second factor before doing anything else.
    pub mfa_required_roles: Vec<crate::authz::BuiltinRole>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub name: Name,
    pub slug: Slug,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    pub name: Option<Name>,
    pub status: Option<TenantStatus>,
    /// Replaces the roles that require a second factor.
    #[serde(default)]
    pub mfa_required_roles: Option<Vec<crate::authz::BuiltinRole>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    pub id: SiteId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub time_zone: TimeZone,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub name: Name,
    pub time_zone: TimeZone,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    pub name: Option<Name>,
    pub time_zone: Option<TimeZone>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Zone {
    pub id: ZoneId,
    pub tenant_id: TenantId,
    pub site_id: SiteId,
    /// The enclosing zone, or null for a top-level zone of its site.
    pub parent_id: Option<ZoneId>,
    pub name: Name,
    pub kind: ZoneKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewZone {
    pub site_id: SiteId,
    #[serde(default)]
    pub parent_id: Option<ZoneId>,
    pub name: Name,
    pub kind: ZoneKind,
}

/// A zone stays in its site; it can be renamed, re-kinded and moved under another
/// zone of the same site (or to the top with `"parent_id": null`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ZonePatch {
    pub name: Option<Name>,
    pub kind: Option<ZoneKind>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub parent_id: Option<Option<ZoneId>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unit {
    pub id: UnitId,
    pub tenant_id: TenantId,
    pub zone_id: ZoneId,
    pub name: Name,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    pub zone_id: ZoneId,
    pub name: Name,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnitPatch {
    pub zone_id: Option<ZoneId>,
    pub name: Option<Name>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessPoint {
    pub id: AccessPointId,
    pub tenant_id: TenantId,
    pub zone_id: ZoneId,
    pub name: Name,
    pub kind: AccessPointKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccessPoint {
    pub zone_id: ZoneId,
    pub name: Name,
    pub kind: AccessPointKind,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessPointPatch {
    pub zone_id: Option<ZoneId>,
    pub name: Option<Name>,
    pub kind: Option<AccessPointKind>,
}
