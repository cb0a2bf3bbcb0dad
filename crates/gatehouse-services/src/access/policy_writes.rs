//! Every store write that can change an access decision, each followed by the reload
//! of the tenant's snapshot before it returns: the admin call that suspends a
//! credential returns only once the next decision refuses it. Routes reach these
//! writes only here (`AccessService::changed` is private to the access module, and the
//! conventions test fails for a route that calls one of [`POLICY_WRITES`] on the store),
//! so a new route cannot forget the reload.

use std::sync::Arc;

use gatehouse_access::credential::Credential;
use gatehouse_access::policy::*;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::people::{Person, PersonPatch};
use gatehouse_domain::tenancy::*;
use gatehouse_domain::*;
use gatehouse_store::Store;

use super::AccessService;
use crate::error::ServiceResult;

/// The policy-changing writes, in front of the store.
pub struct PolicyWrites {
    store: Arc<dyn Store>,
    access: Arc<AccessService>,
}

impl PolicyWrites {
    pub fn new(store: Arc<dyn Store>, access: Arc<AccessService>) -> PolicyWrites {
        PolicyWrites { store, access }
    }
}

/// Declares each write once: a method of the same name and arguments as the store's
/// (tenant first, change last) that writes, then reloads; and its name in [`POLICY_WRITES`].
macro_rules! policy_writes {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl PolicyWrites {
            $(
                pub async fn $name(&self, tenant: TenantId, $($arg: $ty,)* change: &ChangeContext) -> ServiceResult<$out> {
                    let written = self.store.$name(tenant, $($arg,)* change).await?;
                    self.access.changed(tenant).await?;
                    Ok(written)
                }
            )*
        }

        /// The store methods that can change a decision: callable from routes only through [`PolicyWrites`].
        pub const POLICY_WRITES: &[&str] = &[$(stringify!($name)),*];
    };
}

policy_writes! {
    site_update(id: SiteId, patch: &SitePatch) -> Site;
    site_delete(id: SiteId) -> ();
    zone_create(new: &NewZone) -> Zone;
    zone_update(id: ZoneId, patch: &ZonePatch) -> Zone;
    zone_delete(id: ZoneId) -> ();
    access_point_create(new: &NewAccessPoint) -> AccessPoint;
    access_point_update(id: AccessPointId, patch: &AccessPointPatch) -> AccessPoint;
    access_point_delete(id: AccessPointId) -> ();
    person_update(id: PersonId, patch: &PersonPatch) -> Person;
    credential_create(new: &CredentialInput) -> Credential;
    credential_update(id: CredentialId, patch: &CredentialPatch) -> Credential;
    credential_delete(id: CredentialId) -> ();
    schedule_create(new: &NewSchedule) -> Schedule;
    schedule_update(id: ScheduleId, patch: &SchedulePatch) -> Schedule;
    schedule_delete(id: ScheduleId) -> ();
    holiday_calendar_create(new: &NewHolidayCalendar) -> HolidayCalendar;
    holiday_calendar_update(id: HolidayCalendarId, patch: &HolidayCalendarPatch) -> HolidayCalendar;
    holiday_calendar_delete(id: HolidayCalendarId) -> ();
    access_level_create(new: &NewAccessLevel) -> AccessLevel;
    access_level_update(id: AccessLevelId, patch: &AccessLevelPatch) -> AccessLevel;
    access_level_delete(id: AccessLevelId) -> ();
    group_create(new: &NewGroup) -> Group;
    group_update(id: GroupId, patch: &GroupPatch) -> Group;
    group_delete(id: GroupId) -> ();
    grant_create(new: &NewGrant) -> Grant;
    grant_delete(id: GrantId) -> ();
    denial_create(new: &NewDenial) -> Denial;
    denial_delete(id: DenialId) -> ();
    door_settings_put(point: AccessPointId, settings: &DoorSettings) -> DoorSettings;
    zone_rules_put(zone: ZoneId, rules: &ZoneRules) -> ZoneRules;
    lockdown_create(new: &NewLockdown) -> Lockdown;
    lockdown_release(id: LockdownId) -> Lockdown;
}
