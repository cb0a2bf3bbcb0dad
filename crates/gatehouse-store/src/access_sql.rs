//! The SQL of [`crate::AccessStore`]: a tenant's access policy records.
//! Expanded by [`crate::sql::sql_store!`] inside each backend's store module.

macro_rules! access_store_impl {
    ($store:ty, $db:ty, $row:ty) => {
        // A block of its own, so these imports stay out of the module that expands the macro.
        const _: () = {
            use gatehouse_access::credential::*;
            use gatehouse_access::policy::*;
            use gatehouse_domain::audit::ChangeContext;
            use gatehouse_domain::*;
            use crate::access::*;

        #[async_trait]
        impl crate::AccessStore for $store {
            #[allow(unused_variables)]
            async fn access_policy(&self, tenant: TenantId) -> StoreResult<PolicyRecords> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn credential_create(&self, tenant: TenantId, new: &CredentialInput, change: &ChangeContext) -> StoreResult<Credential> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn credential_get(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Credential> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn credential_list(&self, tenant: TenantId, filter: &CredentialFilter, page: PageRequest) -> StoreResult<Page<Credential>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn credential_update(&self, tenant: TenantId, id: CredentialId, patch: &CredentialPatch, change: &ChangeContext) -> StoreResult<Credential> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn credential_delete(&self, tenant: TenantId, id: CredentialId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn schedule_create(&self, tenant: TenantId, new: &NewSchedule, change: &ChangeContext) -> StoreResult<Schedule> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn schedule_get(&self, tenant: TenantId, id: ScheduleId) -> StoreResult<Schedule> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn schedule_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Schedule>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn schedule_update(&self, tenant: TenantId, id: ScheduleId, patch: &SchedulePatch, change: &ChangeContext) -> StoreResult<Schedule> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn schedule_delete(&self, tenant: TenantId, id: ScheduleId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn holiday_calendar_create(&self, tenant: TenantId, new: &NewHolidayCalendar, change: &ChangeContext) -> StoreResult<HolidayCalendar> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn holiday_calendar_get(&self, tenant: TenantId, id: HolidayCalendarId) -> StoreResult<HolidayCalendar> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn holiday_calendar_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<HolidayCalendar>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn holiday_calendar_update(&self, tenant: TenantId, id: HolidayCalendarId, patch: &HolidayCalendarPatch, change: &ChangeContext) -> StoreResult<HolidayCalendar> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn holiday_calendar_delete(&self, tenant: TenantId, id: HolidayCalendarId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn access_level_create(&self, tenant: TenantId, new: &NewAccessLevel, change: &ChangeContext) -> StoreResult<AccessLevel> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn access_level_get(&self, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn access_level_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<AccessLevel>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn access_level_update(&self, tenant: TenantId, id: AccessLevelId, patch: &AccessLevelPatch, change: &ChangeContext) -> StoreResult<AccessLevel> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn access_level_delete(&self, tenant: TenantId, id: AccessLevelId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn grant_create(&self, tenant: TenantId, new: &NewGrant, change: &ChangeContext) -> StoreResult<Grant> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn grant_get(&self, tenant: TenantId, id: GrantId) -> StoreResult<Grant> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn grant_list(&self, tenant: TenantId, filter: &GrantFilter, page: PageRequest) -> StoreResult<Page<Grant>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn grant_delete(&self, tenant: TenantId, id: GrantId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn group_create(&self, tenant: TenantId, new: &NewGroup, change: &ChangeContext) -> StoreResult<Group> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn group_get(&self, tenant: TenantId, id: GroupId) -> StoreResult<Group> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn group_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Group>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn group_update(&self, tenant: TenantId, id: GroupId, patch: &GroupPatch, change: &ChangeContext) -> StoreResult<Group> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn group_delete(&self, tenant: TenantId, id: GroupId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn denial_create(&self, tenant: TenantId, new: &NewDenial, change: &ChangeContext) -> StoreResult<Denial> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn denial_list(&self, tenant: TenantId, person: Option<PersonId>, page: PageRequest) -> StoreResult<Page<Denial>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn denial_delete(&self, tenant: TenantId, id: DenialId, change: &ChangeContext) -> StoreResult<()> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn door_settings_put(&self, tenant: TenantId, point: AccessPointId, settings: &DoorSettings, change: &ChangeContext) -> StoreResult<DoorSettings> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn door_settings_get(&self, tenant: TenantId, point: AccessPointId) -> StoreResult<DoorSettings> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn zone_rules_put(&self, tenant: TenantId, zone: ZoneId, rules: &ZoneRules, change: &ChangeContext) -> StoreResult<ZoneRules> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn zone_rules_get(&self, tenant: TenantId, zone: ZoneId) -> StoreResult<ZoneRules> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn lockdown_create(&self, tenant: TenantId, new: &NewLockdown, change: &ChangeContext) -> StoreResult<Lockdown> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn lockdown_get(&self, tenant: TenantId, id: LockdownId) -> StoreResult<Lockdown> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn lockdown_list(&self, tenant: TenantId, active_only: bool, page: PageRequest) -> StoreResult<Page<Lockdown>> {
                unimplemented!("AccessStore")
            }

            #[allow(unused_variables)]
            async fn lockdown_release(&self, tenant: TenantId, id: LockdownId, change: &ChangeContext) -> StoreResult<Lockdown> {
                unimplemented!("AccessStore")
            }

        }
        };
    };
}
pub(crate) use access_store_impl;
