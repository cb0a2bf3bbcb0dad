//! The SQL of the access-policy stores: a tenant's credentials, schedules,
//! levels, groups, doors and the whole policy the engine loads.
//!
//! Lists inside a record (a schedule's intervals and exceptions, a calendar's
//! days) are JSON columns replaced whole; a level's entries and a group's
//! members are rows of their own, replaced whole on update, so that every
//! access point, zone, schedule and person they name is a foreign key. The
//! lookup key of a credential is written and read only for the engine
//! ([`crate::PolicyStore::access_policy`]): it is never part of a
//! [`Credential`], so never of an audit entry either.

mod credentials;
mod doors;
mod levels;
mod policy;
mod schedules;

use std::collections::HashMap;

use gatehouse_access::credential::*;
use gatehouse_access::policy::*;
use gatehouse_domain::values::TimeZone;

use self::credentials::*;
use self::doors::*;
use self::levels::*;
use self::schedules::*;
use super::*;
use crate::access::*;

const CREDENTIAL_COLUMNS: &str = "id, tenant_id, person_id, kind, value, facility_code, status, valid_from, \
     valid_until, single_use, used_at, created_at, updated_at";
const HOLIDAY_CALENDAR_COLUMNS: &str = "id, tenant_id, name, days, created_at, updated_at";
const SCHEDULE_COLUMNS: &str =
    "id, tenant_id, name, time_zone, intervals, exceptions, holiday_calendar_id, created_at, updated_at";
const ACCESS_LEVEL_COLUMNS: &str = "id, tenant_id, name, lockdown_exempt, door_override, created_at, updated_at";
const LEVEL_ENTRY_COLUMNS: &str = "access_level_id, access_point_id, zone_id, schedule_id";
const GRANT_COLUMNS: &str = "id, tenant_id, person_id, group_id, access_level_id, valid_from, valid_until, created_at";
const GROUP_COLUMNS: &str = "id, tenant_id, name, kind, created_at, updated_at";
const DENIAL_COLUMNS: &str = "id, tenant_id, person_id, reason, valid_until, created_at";
const LOCKDOWN_COLUMNS: &str = "id, tenant_id, scope, site_id, zone_id, reason, started_at, released_at";
