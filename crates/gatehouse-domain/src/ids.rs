//! Typed identifiers. Every row has a UUIDv7 id: time-ordered, so an id is also a
//! stable cursor for pagination in creation order.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// A fresh time-ordered id. Reads the clock, so only edges call it.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// A tenant: a community, company or property; the unit of isolation.
    TenantId
);
typed_id!(
    /// A site: a physical location with its own time zone.
    SiteId
);
typed_id!(
    /// A zone: a building, floor, area or parking inside a site, nested to any depth.
    ZoneId
);
typed_id!(
    /// A unit: an apartment, office or room inside a zone.
    UnitId
);
typed_id!(
    /// An access point: a door, gate, barrier, turnstile or elevator floor.
    AccessPointId
);
typed_id!(
    /// A person: resident, employee, staff or visitor.
    PersonId
);
typed_id!(
    /// An account: a login that may hold roles in several tenants.
    AccountId
);
typed_id!(
    /// A login session: one refresh-token chain and the access tokens issued from it.
    SessionId
);
typed_id!(
    /// An API key of an integration.
    ApiKeyId
);
typed_id!(
    /// A tenant's own role.
    RoleId
);
typed_id!(
    /// A credential: a card, PIN, QR code, plate, mobile key or biometric template bound to a person.
    CredentialId
);
typed_id!(
    /// A weekly schedule with its exceptions.
    ScheduleId
);
typed_id!(
    /// A holiday calendar.
    HolidayCalendarId
);
typed_id!(
    /// An access level: a set of (access point or zone, schedule).
    AccessLevelId
);
typed_id!(
    /// A grant of an access level to a person or a group, possibly for a time.
    GrantId
);
typed_id!(
    /// A group of people (household, department, custom) that receives access levels together.
    GroupId
);
typed_id!(
    /// An entry on a person's deny list.
    DenialId
);
typed_id!(
    /// A lockdown of a site, zone or the whole tenant.
    LockdownId
);
typed_id!(
    /// One access decision, and its entry in the access log.
    DecisionId
);
typed_id!(
    /// A device: controller, reader, lock, sensor, panel, camera or attendance terminal.
    DeviceId
);
typed_id!(
    /// A command queued for a device.
    CommandId
);
typed_id!(
    /// One event of a tenant's event log.
    EventId
);
