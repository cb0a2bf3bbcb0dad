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

/// One tenant's policy as stored: every record the engine compiles, in the
/// order the store reads them. The store returns it; [`Policy`] adds the keys.
#[derive(Debug, Clone, Default)]
pub struct PolicyRecords {
    /// Each site with its time zone.
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
    /// Lockdowns in force (not released).
    pub lockdowns: Vec<Lockdown>,
}

/// One tenant's whole access policy: what [`crate::snapshot::Snapshot::compile`] reads.
#[derive(Debug, Clone)]
pub struct Policy {
    pub tenant: TenantId,
    pub keys: TenantKeys,
    pub records: PolicyRecords,
}

impl Policy {
    pub fn new(tenant: TenantId, keys: TenantKeys, records: PolicyRecords) -> Policy {
        Policy { tenant, keys, records }
    }

    pub fn empty(tenant: TenantId, keys: TenantKeys) -> Policy {
        Policy::new(tenant, keys, PolicyRecords::default())
    }
}

/// A policy reads as its records (`policy.levels`): the keys are the only other part.
impl std::ops::Deref for Policy {
    type Target = PolicyRecords;

    fn deref(&self) -> &PolicyRecords {
        &self.records
    }
}

impl std::ops::DerefMut for Policy {
    fn deref_mut(&mut self) -> &mut PolicyRecords {
        &mut self.records
    }
}

// ---- What clients send ------------------------------------------------------

use gatehouse_domain::people::present;

use crate::schedule::{check_holidays, check_plan};

/// `POST /api/v1/schedules`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: Name,
    /// Null: the site's time zone, wherever the schedule is used.
    #[serde(default)]
    pub time_zone: Option<TimeZone>,
    pub intervals: Vec<Interval>,
    #[serde(default)]
    pub exceptions: Vec<ScheduleException>,
    #[serde(default)]
    pub holiday_calendar_id: Option<HolidayCalendarId>,
}

impl NewSchedule {
    pub fn check(&self) -> Result<(), ValidationError> {
        check_plan(&self.intervals, &self.exceptions)
    }
}

/// `PATCH /api/v1/schedules/{id}`: fields left out stay; `intervals` and `exceptions` are replaced whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub time_zone: Option<Option<TimeZone>>,
    pub intervals: Option<Vec<Interval>>,
    pub exceptions: Option<Vec<ScheduleException>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub holiday_calendar_id: Option<Option<HolidayCalendarId>>,
}

impl Schedule {
    /// Applies a patch and checks the result.
    pub fn patched(mut self, patch: &SchedulePatch) -> Result<Schedule, ValidationError> {
        if let Some(name) = &patch.name {
            self.name = name.clone();
        }
        if let Some(time_zone) = &patch.time_zone {
            self.time_zone = time_zone.clone();
        }
        if let Some(intervals) = &patch.intervals {
            self.intervals = intervals.clone();
        }
        if let Some(exceptions) = &patch.exceptions {
            self.exceptions = exceptions.clone();
        }
        if let Some(calendar) = patch.holiday_calendar_id {
            self.holiday_calendar_id = calendar;
        }
        check_plan(&self.intervals, &self.exceptions)?;
        Ok(self)
    }
}

/// `POST /api/v1/holidays`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewHolidayCalendar {
    pub name: Name,
    #[serde(default)]
    pub days: Vec<Holiday>,
}

impl NewHolidayCalendar {
    pub fn check(&self) -> Result<(), ValidationError> {
        check_holidays(&self.days)
    }
}

/// `PATCH /api/v1/holidays/{id}`: `days` is replaced whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HolidayCalendarPatch {
    pub name: Option<Name>,
    pub days: Option<Vec<Holiday>>,
}

impl HolidayCalendar {
    pub fn patched(mut self, patch: &HolidayCalendarPatch) -> Result<HolidayCalendar, ValidationError> {
        if let Some(name) = &patch.name {
            self.name = name.clone();
        }
        if let Some(days) = &patch.days {
            self.days = days.clone();
        }
        check_holidays(&self.days)?;
        Ok(self)
    }
}

/// `POST /api/v1/access-levels`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccessLevel {
    pub name: Name,
    pub entries: Vec<LevelEntry>,
    #[serde(default)]
    pub lockdown_exempt: bool,
    #[serde(default)]
    pub door_override: bool,
}

impl NewAccessLevel {
    pub fn check(&self) -> Result<(), ValidationError> {
        check_entries(&self.entries)
    }
}

/// `PATCH /api/v1/access-levels/{id}`: `entries` is replaced whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessLevelPatch {
    pub name: Option<Name>,
    pub entries: Option<Vec<LevelEntry>>,
    pub lockdown_exempt: Option<bool>,
    pub door_override: Option<bool>,
}

impl AccessLevel {
    pub fn patched(mut self, patch: &AccessLevelPatch) -> Result<AccessLevel, ValidationError> {
        if let Some(name) = &patch.name {
            self.name = name.clone();
        }
        if let Some(entries) = &patch.entries {
            self.entries = entries.clone();
        }
        if let Some(exempt) = patch.lockdown_exempt {
            self.lockdown_exempt = exempt;
        }
        if let Some(door_override) = patch.door_override {
            self.door_override = door_override;
        }
        check_entries(&self.entries)?;
        Ok(self)
    }
}

/// `POST /api/v1/grants`: to a person or to a group, not both.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    #[serde(default)]
    pub person_id: Option<PersonId>,
    #[serde(default)]
    pub group_id: Option<GroupId>,
    pub access_level_id: AccessLevelId,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

impl NewGrant {
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.person_id.is_some() == self.group_id.is_some() {
            return Err(ValidationError::new("person_id", "name exactly one of person_id and group_id"));
        }
        check_window(self.valid_from, self.valid_until)
    }
}

/// `valid_until` after `valid_from` when both are given.
pub fn check_window(from: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Result<(), ValidationError> {
    match (from, until) {
        (Some(from), Some(until)) if until <= from => Err(ValidationError::new("valid_until", "must be after valid_from")),
        _ => Ok(()),
    }
}

code_enum!(
    /// What holds a group together.
    GroupKind { Household => "household", Department => "department", Custom => "custom" }
);

/// People who receive access levels together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: GroupId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub kind: GroupKind,
    pub members: Vec<PersonId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Most members one group may have.
pub const GROUP_MEMBERS_MAX: usize = 10_000;

/// `POST /api/v1/groups`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: Name,
    pub kind: GroupKind,
    #[serde(default)]
    pub members: Vec<PersonId>,
}

/// `PATCH /api/v1/groups/{id}`: `members` is replaced whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<Name>,
    pub kind: Option<GroupKind>,
    pub members: Option<Vec<PersonId>>,
}

/// `POST /api/v1/denials`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDenial {
    pub person_id: PersonId,
    pub reason: String,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

impl NewDenial {
    pub fn check(&self) -> Result<(), ValidationError> {
        let length = self.reason.trim().chars().count();
        if length == 0 || length > 500 {
            return Err(ValidationError::new("reason", "1 to 500 characters"));
        }
        Ok(())
    }
}

/// `POST /api/v1/lockdowns`: the whole tenant, a site or a zone.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLockdown {
    pub scope: LockdownScope,
    #[serde(default)]
    pub site_id: Option<SiteId>,
    #[serde(default)]
    pub zone_id: Option<ZoneId>,
    pub reason: String,
}

impl NewLockdown {
    pub fn check(&self) -> Result<(), ValidationError> {
        match (self.scope, self.site_id, self.zone_id) {
            (LockdownScope::Tenant, None, None) | (LockdownScope::Site, Some(_), None) | (LockdownScope::Zone, None, Some(_)) => {
            }
            (LockdownScope::Tenant, ..) => {
                return Err(ValidationError::new("scope", "a tenant lockdown names no site_id or zone_id"))
            }
            (LockdownScope::Site, ..) => {
                return Err(ValidationError::new("site_id", "a site lockdown names site_id (and no zone_id)"))
            }
            (LockdownScope::Zone, ..) => {
                return Err(ValidationError::new("zone_id", "a zone lockdown names zone_id (and no site_id)"))
            }
        }
        let length = self.reason.trim().chars().count();
        if length == 0 || length > 500 {
            return Err(ValidationError::new("reason", "1 to 500 characters"));
        }
        Ok(())
    }
}

/// What the store keeps of a new credential: the API has already normalised the
/// value, derived the lookup key and chosen the id (a QR token signs it).
#[derive(Debug, Clone)]
pub struct CredentialInput {
    pub id: CredentialId,
    pub person_id: PersonId,
    pub kind: CredentialKind,
    pub value: Option<String>,
    pub facility_code: Option<u32>,
    pub lookup_key: LookupKey,
    pub status: CredentialStatus,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub single_use: bool,
}

/// `PATCH /api/v1/credentials/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CredentialPatch {
    pub status: Option<CredentialStatus>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_from: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub valid_until: Option<Option<DateTime<Utc>>>,
}

impl crate::credential::Credential {
    /// Applies a patch. A lost credential is final: nothing about it changes again.
    pub fn patched(mut self, patch: &CredentialPatch) -> Result<crate::credential::Credential, ValidationError> {
        if self.status == CredentialStatus::Lost {
            return Err(ValidationError::new("status", "the credential is lost; a lost credential is never used again"));
        }
        if let Some(status) = patch.status {
            self.status = status;
        }
        if let Some(from) = patch.valid_from {
            self.valid_from = from;
        }
        if let Some(until) = patch.valid_until {
            self.valid_until = until;
        }
        check_window(self.valid_from, self.valid_until)?;
        Ok(self)
    }
}
