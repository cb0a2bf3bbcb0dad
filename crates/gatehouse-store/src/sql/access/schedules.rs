use super::*;

pub(super) const SCHEDULES: Records<Schedule> =
    Records::new("schedules", SCHEDULE_COLUMNS, decode_schedule, |r| r.id.as_uuid(), "access.schedule");

pub(super) const HOLIDAY_CALENDARS: Records<HolidayCalendar> = Records::new(
    "holiday_calendars",
    HOLIDAY_CALENDAR_COLUMNS,
    decode_holiday_calendar,
    |r| r.id.as_uuid(),
    "access.holiday_calendar",
);

pub(super) fn decode_holiday_calendar(row: &Row) -> StoreResult<HolidayCalendar> {
    Ok(HolidayCalendar {
        id: HolidayCalendarId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: name_column(row)?,
        days: json_column(row, "days")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn decode_schedule(row: &Row) -> StoreResult<Schedule> {
    Ok(Schedule {
        id: ScheduleId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: name_column(row)?,
        time_zone: stored_opt("time_zone", row.try_get("time_zone")?, TimeZone::parse)?,
        intervals: json_column(row, "intervals")?,
        exceptions: json_column(row, "exceptions")?,
        holiday_calendar_id: row.try_get::<Option<Uuid>, _>("holiday_calendar_id")?.map(HolidayCalendarId::from_uuid),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl ScheduleStore for This {
    // ---- Schedules ------------------------------------------------

    async fn schedule_create(&self, tenant: TenantId, new: &NewSchedule, change: &ChangeContext) -> StoreResult<Schedule> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        if let Some(calendar) = new.holiday_calendar_id {
            require(&mut tx, "holiday_calendars", "holiday_calendar_id", tenant, calendar.as_uuid()).await?;
        }
        let sql = format!(
            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SCHEDULE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(new.time_zone.as_ref().map(|zone| zone.as_str()))
            .bind(Json(&new.intervals))
            .bind(Json(&new.exceptions))
            .bind(new.holiday_calendar_id.map(|id| id.as_uuid()))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name").on_missing_reference("holiday_calendar_id"))?;
        let schedule = decode_schedule(&row)?;
        SCHEDULES.commit_change(tx, tenant, change, "create", None, schedule).await
    }

    async fn schedule_get(&self, tenant: TenantId, id: ScheduleId) -> StoreResult<Schedule> {
        self.read_record(&SCHEDULES, tenant, id.as_uuid()).await
    }

    async fn schedule_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Schedule>> {
        let query = SCHEDULES.select(tenant);
        self.read_page(&SCHEDULES, tenant, query, page).await
    }

    async fn schedule_update(
        &self,
        tenant: TenantId,
        id: ScheduleId,
        patch: &SchedulePatch,
        change: &ChangeContext,
    ) -> StoreResult<Schedule> {
        let mut tx = self.write(tenant).await?;
        let before = SCHEDULES.get(&mut tx, tenant, id.as_uuid()).await?;
        let patched = before.clone().patched(patch)?;
        if let Some(Some(calendar)) = patch.holiday_calendar_id {
            require(&mut tx, "holiday_calendars", "holiday_calendar_id", tenant, calendar.as_uuid()).await?;
        }
        let sql = format!(
            "UPDATE schedules SET name = $3, time_zone = $4, intervals = $5, exceptions = $6, holiday_calendar_id = $7, \
             updated_at = $8 WHERE tenant_id = $1 AND id = $2 RETURNING {SCHEDULE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(patched.name.as_str())
            .bind(patched.time_zone.as_ref().map(|zone| zone.as_str()))
            .bind(Json(&patched.intervals))
            .bind(Json(&patched.exceptions))
            .bind(patched.holiday_calendar_id.map(|id| id.as_uuid()))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name").on_missing_reference("holiday_calendar_id"))?;
        let schedule = decode_schedule(&row)?;
        SCHEDULES.commit_change(tx, tenant, change, "update", Some(&before), schedule).await
    }

    async fn schedule_delete(&self, tenant: TenantId, id: ScheduleId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = SCHEDULES.get(&mut tx, tenant, id.as_uuid()).await?;
        SCHEDULES
            .delete(
                &mut tx,
                tenant,
                &before,
                "the schedule is still used by an access level or as a door's unlock schedule",
                change,
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Holiday calendars ----------------------------------------

    async fn holiday_calendar_create(
        &self,
        tenant: TenantId,
        new: &NewHolidayCalendar,
        change: &ChangeContext,
    ) -> StoreResult<HolidayCalendar> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        let sql = format!(
            "INSERT INTO holiday_calendars ({HOLIDAY_CALENDAR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {HOLIDAY_CALENDAR_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(Json(&new.days))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let calendar = decode_holiday_calendar(&row)?;
        HOLIDAY_CALENDARS.commit_change(tx, tenant, change, "create", None, calendar).await
    }

    async fn holiday_calendar_get(&self, tenant: TenantId, id: HolidayCalendarId) -> StoreResult<HolidayCalendar> {
        self.read_record(&HOLIDAY_CALENDARS, tenant, id.as_uuid()).await
    }

    async fn holiday_calendar_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<HolidayCalendar>> {
        let query = HOLIDAY_CALENDARS.select(tenant);
        self.read_page(&HOLIDAY_CALENDARS, tenant, query, page).await
    }

    async fn holiday_calendar_update(
        &self,
        tenant: TenantId,
        id: HolidayCalendarId,
        patch: &HolidayCalendarPatch,
        change: &ChangeContext,
    ) -> StoreResult<HolidayCalendar> {
        let mut tx = self.write(tenant).await?;
        let before = HOLIDAY_CALENDARS.get(&mut tx, tenant, id.as_uuid()).await?;
        let patched = before.clone().patched(patch)?;
        let sql = format!(
            "UPDATE holiday_calendars SET name = $3, days = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {HOLIDAY_CALENDAR_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(patched.name.as_str())
            .bind(Json(&patched.days))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let calendar = decode_holiday_calendar(&row)?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "access.holiday_calendar.update",
            "holiday_calendar",
            Some(id.to_string()),
            state(&before),
            state(&calendar),
        )
        .await?;
        tx.commit().await?;
        Ok(calendar)
    }

    async fn holiday_calendar_delete(&self, tenant: TenantId, id: HolidayCalendarId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = HOLIDAY_CALENDARS.get(&mut tx, tenant, id.as_uuid()).await?;
        HOLIDAY_CALENDARS.delete(&mut tx, tenant, &before, "a schedule still uses the holiday calendar", change).await?;
        tx.commit().await?;
        Ok(())
    }
}
