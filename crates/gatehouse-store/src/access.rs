//! The store's side of access control: the policy records (credentials,
//! schedules, holiday calendars, access levels, grants, groups, the deny list,
//! door settings, zone rules, lockdowns) and the hash-chained access log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_access::chain::{ChainHead, LogRecord};
use gatehouse_access::credential::{Credential, CredentialKind, CredentialStatus};
use gatehouse_access::policy::*;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::*;

use crate::{Page, PageRequest, StoreResult};

#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub person_id: Option<PersonId>,
    pub kind: Option<CredentialKind>,
    pub status: Option<CredentialStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub person_id: Option<PersonId>,
    pub group_id: Option<GroupId>,
    pub access_level_id: Option<AccessLevelId>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessLogFilter {
    /// `at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `at < to`.
    pub to: Option<DateTime<Utc>>,
    pub person_id: Option<PersonId>,
    pub access_point_id: Option<AccessPointId>,
    pub credential_kind: Option<String>,
    pub granted: Option<bool>,
    pub reason: Option<String>,
    /// The instant the entry reports (a device's own `ts`, else `at`) `>= reported_from`.
    pub reported_from: Option<DateTime<Utc>>,
    /// The instant the entry reports `< reported_to`.
    pub reported_to: Option<DateTime<Utc>>,
}

/// A page of the access log in the order of the instants its entries report.
#[derive(Debug, Clone)]
pub struct ReportedPage {
    pub items: Vec<LogRecord>,
    pub next_after: Option<(DateTime<Utc>, i64)>,
}

/// A page of the access log in sequence order; `next_after_seq` is the cursor.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub items: Vec<LogRecord>,
    pub next_after_seq: Option<i64>,
}

/// One tenant's policy as stored, and the policy version it includes every change up to.
#[derive(Debug, Clone, Default)]
pub struct StoredPolicy {
    pub version: u64,
    pub records: PolicyRecords,
}

/// One single-use credential consumed by a logged grant.
#[derive(Debug, Clone, Copy)]
pub struct CredentialUse {
    pub tenant: TenantId,
    pub credential: CredentialId,
    pub at: DateTime<Utc>,
}

/// What the decision engine loads: a tenant's whole policy, and every tenant's
/// policy version.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// One tenant's whole policy, read in one transaction (a consistent snapshot).
    async fn access_policy(&self, tenant: TenantId) -> StoreResult<StoredPolicy>;
    /// Every tenant's policy version (a platform read): the counter that any change to
    /// what [`PolicyStore::access_policy`] reads moves forward in its own transaction,
    /// whichever process writes it (database triggers, migration 0016).
    async fn policy_versions(&self) -> StoreResult<Vec<(TenantId, u64)>>;
}

/// Credentials (cards, PINs, QR and mobile tokens) and denials of people.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The person must exist in the tenant (422 on `person_id`); `(kind, lookup_key)` is unique per tenant (409 on `value`).
    async fn credential_create(&self, tenant: TenantId, new: &CredentialInput, change: &ChangeContext)
        -> StoreResult<Credential>;
    async fn credential_get(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Credential>;
    async fn credential_list(
        &self,
        tenant: TenantId,
        filter: &CredentialFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Credential>>;
    /// Read, [`Credential::patched`] (a lost credential refuses: 422 on `status`), write.
    async fn credential_update(
        &self,
        tenant: TenantId,
        id: CredentialId,
        patch: &CredentialPatch,
        change: &ChangeContext,
    ) -> StoreResult<Credential>;
    /// A lost credential is kept for ever (so it is never issued again): `InUse`.
    async fn credential_delete(&self, tenant: TenantId, id: CredentialId, change: &ChangeContext) -> StoreResult<()>;
    async fn denial_create(&self, tenant: TenantId, new: &NewDenial, change: &ChangeContext) -> StoreResult<Denial>;
    async fn denial_list(&self, tenant: TenantId, person: Option<PersonId>, page: PageRequest) -> StoreResult<Page<Denial>>;
    async fn denial_delete(&self, tenant: TenantId, id: DenialId, change: &ChangeContext) -> StoreResult<()>;
}

/// Schedules and the holiday calendars they follow.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// The holiday calendar, if named, must exist (422 on `holiday_calendar_id`); names are unique (409 on `name`).
    async fn schedule_create(&self, tenant: TenantId, new: &NewSchedule, change: &ChangeContext) -> StoreResult<Schedule>;
    async fn schedule_get(&self, tenant: TenantId, id: ScheduleId) -> StoreResult<Schedule>;
    async fn schedule_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Schedule>>;
    async fn schedule_update(
        &self,
        tenant: TenantId,
        id: ScheduleId,
        patch: &SchedulePatch,
        change: &ChangeContext,
    ) -> StoreResult<Schedule>;
    /// `InUse` while an access level entry or a door's unlock schedule uses it.
    async fn schedule_delete(&self, tenant: TenantId, id: ScheduleId, change: &ChangeContext) -> StoreResult<()>;
    async fn holiday_calendar_create(
        &self,
        tenant: TenantId,
        new: &NewHolidayCalendar,
        change: &ChangeContext,
    ) -> StoreResult<HolidayCalendar>;
    async fn holiday_calendar_get(&self, tenant: TenantId, id: HolidayCalendarId) -> StoreResult<HolidayCalendar>;
    async fn holiday_calendar_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<HolidayCalendar>>;
    async fn holiday_calendar_update(
        &self,
        tenant: TenantId,
        id: HolidayCalendarId,
        patch: &HolidayCalendarPatch,
        change: &ChangeContext,
    ) -> StoreResult<HolidayCalendar>;
    /// `InUse` while a schedule uses it.
    async fn holiday_calendar_delete(&self, tenant: TenantId, id: HolidayCalendarId, change: &ChangeContext) -> StoreResult<()>;
}

/// Access levels, the grants of them to people and groups, and groups.
#[async_trait]
pub trait LevelStore: Send + Sync {
    /// Every access point, zone and schedule named must exist (422 on `entries[i].…`).
    async fn access_level_create(
        &self,
        tenant: TenantId,
        new: &NewAccessLevel,
        change: &ChangeContext,
    ) -> StoreResult<AccessLevel>;
    async fn access_level_get(&self, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel>;
    async fn access_level_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<AccessLevel>>;
    async fn access_level_update(
        &self,
        tenant: TenantId,
        id: AccessLevelId,
        patch: &AccessLevelPatch,
        change: &ChangeContext,
    ) -> StoreResult<AccessLevel>;
    /// `InUse` while a grant gives it.
    async fn access_level_delete(&self, tenant: TenantId, id: AccessLevelId, change: &ChangeContext) -> StoreResult<()>;
    async fn grant_create(&self, tenant: TenantId, new: &NewGrant, change: &ChangeContext) -> StoreResult<Grant>;
    async fn grant_get(&self, tenant: TenantId, id: GrantId) -> StoreResult<Grant>;
    async fn grant_list(&self, tenant: TenantId, filter: &GrantFilter, page: PageRequest) -> StoreResult<Page<Grant>>;
    async fn grant_delete(&self, tenant: TenantId, id: GrantId, change: &ChangeContext) -> StoreResult<()>;
    /// Every member must exist (422 on `members[i]`).
    async fn group_create(&self, tenant: TenantId, new: &NewGroup, change: &ChangeContext) -> StoreResult<Group>;
    async fn group_get(&self, tenant: TenantId, id: GroupId) -> StoreResult<Group>;
    async fn group_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Group>>;
    async fn group_update(&self, tenant: TenantId, id: GroupId, patch: &GroupPatch, change: &ChangeContext)
        -> StoreResult<Group>;
    /// `InUse` while a grant gives the group a level.
    async fn group_delete(&self, tenant: TenantId, id: GroupId, change: &ChangeContext) -> StoreResult<()>;
}

/// Doors' modes and settings, zones' rules, and lockdowns.
#[async_trait]
pub trait DoorStore: Send + Sync {
    /// The access point must exist (`NotFound`), and the unlock schedule if named (422 on `unlock_schedule_id`).
    async fn door_settings_put(
        &self,
        tenant: TenantId,
        point: AccessPointId,
        settings: &DoorSettings,
        change: &ChangeContext,
    ) -> StoreResult<DoorSettings>;
    async fn door_settings_get(&self, tenant: TenantId, point: AccessPointId) -> StoreResult<DoorSettings>;
    /// The zone must exist (`NotFound`).
    async fn zone_rules_put(
        &self,
        tenant: TenantId,
        zone: ZoneId,
        rules: &ZoneRules,
        change: &ChangeContext,
    ) -> StoreResult<ZoneRules>;
    async fn zone_rules_get(&self, tenant: TenantId, zone: ZoneId) -> StoreResult<ZoneRules>;
    /// The site or zone must exist (422 on `site_id`/`zone_id`).
    async fn lockdown_create(&self, tenant: TenantId, new: &NewLockdown, change: &ChangeContext) -> StoreResult<Lockdown>;
    async fn lockdown_get(&self, tenant: TenantId, id: LockdownId) -> StoreResult<Lockdown>;
    /// Newest first would be natural for operators, but like every list this pages in id order.
    async fn lockdown_list(&self, tenant: TenantId, active_only: bool, page: PageRequest) -> StoreResult<Page<Lockdown>>;
    /// Sets `released_at`; releasing a released lockdown is `InUse`-free and returns it unchanged.
    async fn lockdown_release(&self, tenant: TenantId, id: LockdownId, change: &ChangeContext) -> StoreResult<Lockdown>;
}

/// Every access-policy area: the records the decision engine is built from. Every
/// method takes the tenant first and writes its audit entry in the same
/// transaction as the change, like the rest of the store.
pub trait AccessStore: PolicyStore + CredentialStore + ScheduleStore + LevelStore + DoorStore {}

impl<T: PolicyStore + CredentialStore + ScheduleStore + LevelStore + DoorStore> AccessStore for T {}

/// The access log: appended in batches (group commit), read in sequence order.
#[async_trait]
pub trait AccessLogStore: Send + Sync {
    /// Where each tenant's chain ends, as recorded beside the log.
    async fn access_log_head(&self, tenant: TenantId) -> StoreResult<ChainHead>;

    /// Appends sealed entries of any tenants, and marks single-use credentials used, in one
    /// transaction: all of it is durable when this returns, or none of it. A sequence number
    /// already taken (another node appended) fails the whole batch with `Conflict { field: "seq" }`.
    async fn access_log_append(&self, records: &[LogRecord], uses: &[CredentialUse]) -> StoreResult<()> {
        self.access_log_append_recorded(records, uses, &[]).await
    }

    /// [`AccessLogStore::access_log_append`], recording the device messages the entries came
    /// from in the same transaction (an id already recorded for its device fails the batch
    /// with `Conflict { field: "message_id" }`).
    async fn access_log_append_recorded(
        &self,
        records: &[LogRecord],
        uses: &[CredentialUse],
        messages: &[crate::devices::DeviceMessageKey],
    ) -> StoreResult<()>;

    /// Entries matching `filter` with `seq > after_seq`, in sequence order.
    async fn access_log_list(
        &self,
        tenant: TenantId,
        filter: &AccessLogFilter,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<LogPage>;

    /// Entries matching `filter` in the order of the instants they report (a device's own
    /// `ts`, else `at`), ties in `seq` order, after `after` in that order.
    async fn access_log_list_reported(
        &self,
        tenant: TenantId,
        filter: &AccessLogFilter,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> StoreResult<ReportedPage>;

    /// Every entry with `seq > after_seq`, up to `limit`, in sequence order: for verifying the chain.
    async fn access_log_scan(&self, tenant: TenantId, after_seq: i64, limit: u32) -> StoreResult<Vec<LogRecord>>;

    /// Tenants that have access-log entries.
    async fn access_log_tenants(&self) -> StoreResult<Vec<TenantId>>;

    /// Makes the log ready for the months ahead of `now`: on PostgreSQL, the monthly partitions
    /// of this month and the next two; nothing to do on SQLite. The server calls it daily.
    async fn access_log_prepare(&self, now: DateTime<Utc>) -> StoreResult<()>;
}
