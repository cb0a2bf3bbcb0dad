//! The records a tenant's access policy is made of, as stored and served, and
//! [`Policy`]: everything the engine needs about one tenant, in one value.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatehouse_domain::people::PersonStatus;
use gatehouse_domain::values::{Name, TimeZone};
use gatehouse_domain::*;
use serde::{Deserialize, Serialize};

use crate::credential::{CredentialKind, CredentialStatus, LookupKey, TenantKeys};
use crate::schedule::{Holiday, Interval, ScheduleException};

/// Most entries one access level may have.
pub const LEVEL_ENTRIES_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: ScheduleId,
    pub tenant_id: TenantId,
    pub name: Name,
    /// Null: the time zone of the site of the access point being decided.
    pub time_zone: Option<TimeZone>,
    pub intervals: Vec<Interval>,
    pub exceptions: Vec<ScheduleException>,
    pub holiday_calendar_id: Option<HolidayCalendarId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HolidayCalendar {
    pub id: HolidayCalendarId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub days: Vec<Holiday>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One line of an access level: an access point, or every access point in a zone and
/// the zones inside it, open on a schedule (null: always).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LevelEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<AccessPointId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
}

impl LevelEntry {
    pub fn target(&self) -> Result<LevelTarget, ValidationError> {
        match (self.access_point_id, self.zone_id) {
            (Some(point), None) => Ok(LevelTarget::Point(point)),
            (None, Some(zone)) => Ok(LevelTarget::Zone(zone)),
            _ => Err(ValidationError::message("name exactly one of access_point_id and zone_id")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelTarget {
    Point(AccessPointId),
    Zone(ZoneId),
}

pub fn check_entries(entries: &[LevelEntry]) -> Result<(), ValidationError> {
    if entries.len() > LEVEL_ENTRIES_MAX {
        return Err(ValidationError::new("entries", format!("at most {LEVEL_ENTRIES_MAX} entries")));
    }
    for (index, entry) in entries.iter().enumerate() {
        entry.target().map_err(|err| err.at(format!("entries[{index}]")))?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessLevel {
    pub id: AccessLevelId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub entries: Vec<LevelEntry>,
    /// Still passes during a lockdown (security, first responders).
    pub lockdown_exempt: bool,
    /// Passes doors in `locked` mode.
    pub door_override: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An access level given to a person or to a group, for ever or for a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    pub id: GrantId,
    pub tenant_id: TenantId,
    pub person_id: Option<PersonId>,
    pub group_id: Option<GroupId>,
    pub access_level_id: AccessLevelId,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What the engine needs of a credential: never the secret itself, only its lookup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEntry {
    pub id: CredentialId,
    pub person_id: PersonId,
    pub kind: CredentialKind,
    pub lookup_key: LookupKey,
    pub status: CredentialStatus,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub single_use: bool,
    pub used: bool,
}

/// What the engine needs of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePlace {
    pub id: ZoneId,
    pub site_id: SiteId,
    pub parent_id: Option<ZoneId>,
    pub rules: ZoneRules,
}

code_enum!(
    /// How a zone treats re-entry without an exit.
    AntiPassback { Off => "off", Soft => "soft", Hard => "hard" }
);

/// A zone's presence rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ZoneRules {
    pub anti_passback: AntiPassback,
    /// After this many seconds inside, a person counts as gone (null: never).
    #[serde(default)]
    pub anti_passback_reset_s: Option<u32>,
    /// Entries are refused while this many people are inside (null: no limit).
    #[serde(default)]
    pub occupancy_max: Option<u32>,
}

impl Default for ZoneRules {
    fn default() -> Self {
        ZoneRules { anti_passback: AntiPassback::Off, anti_passback_reset_s: None, occupancy_max: None }
    }
}

code_enum!(
    /// How an access point lets people through.
    DoorMode { Normal => "normal", ScheduledUnlock => "scheduled_unlock", Locked => "locked" }
);

/// An access point's mode and what a reader there asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DoorSettings {
    pub mode: DoorMode,
    /// For `scheduled_unlock`: when the door is free.
    #[serde(default)]
    pub unlock_schedule_id: Option<ScheduleId>,
    /// For `scheduled_unlock`: free only after the first valid credential of the day.
    #[serde(default)]
    pub first_person_in: bool,
    /// A card (or plate, or mobile key) here needs the person's PIN as well.
    #[serde(default)]
    pub requires_pin: bool,
}

impl Default for DoorSettings {
    fn default() -> Self {
        DoorSettings { mode: DoorMode::Normal, unlock_schedule_id: None, first_person_in: false, requires_pin: false }
    }
}

/// What the engine needs of an access point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointPlace {
    pub id: AccessPointId,
    pub zone_id: ZoneId,
    pub door: DoorSettings,
}

/// A person on the deny list: refused everywhere while it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Denial {
    pub id: DenialId,
    pub tenant_id: TenantId,
    pub person_id: PersonId,
    pub reason: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

code_enum!(
    /// What a lockdown covers.
    LockdownScope { Tenant => "tenant", Site => "site", Zone => "zone" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lockdown {
    pub id: LockdownId,
    pub tenant_id: TenantId,
    pub scope: LockdownScope,
    pub site_id: Option<SiteId>,
    pub zone_id: Option<ZoneId>,
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

/// One tenant's whole access policy: what [`crate::snapshot::Snapshot::compile`] reads.
#[derive(Debug, Clone)]
pub struct Policy {
    pub tenant: TenantId,
    pub keys: TenantKeys,
    pub sites: Vec<(SiteId, Tz)>,
    pub zones: Vec<ZonePlace>,
    pub points: Vec<PointPlace>,
    pub people: Vec<(PersonId, PersonStatus)>,
    pub credentials: Vec<CredentialEntry>,
    pub schedules: Vec<Schedule>,
    pub holidays: Vec<HolidayCalendar>,
    pub levels: Vec<AccessLevel>,
    pub grants: Vec<Grant>,
    pub groups: Vec<(GroupId, Vec<PersonId>)>,
    pub denials: Vec<Denial>,
    pub lockdowns: Vec<Lockdown>,
}

impl Policy {
    pub fn empty(tenant: TenantId, keys: TenantKeys) -> Policy {
        Policy {
            tenant,
            keys,
            sites: Vec::new(),
            zones: Vec::new(),
            points: Vec::new(),
            people: Vec::new(),
            credentials: Vec::new(),
            schedules: Vec::new(),
            holidays: Vec::new(),
            levels: Vec::new(),
            grants: Vec::new(),
            groups: Vec::new(),
            denials: Vec::new(),
            lockdowns: Vec::new(),
        }
    }
}
