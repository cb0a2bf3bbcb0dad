use super::*;

const LOCKDOWNS: Records<Lockdown> =
    Records::new("lockdowns", LOCKDOWN_COLUMNS, decode_lockdown, |r| r.id.as_uuid(), "access.lockdown");

pub(super) fn decode_lockdown(row: &Row) -> StoreResult<Lockdown> {
    Ok(Lockdown {
        id: LockdownId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        scope: stored("scope", text_column(row, "scope")?.parse())?,
        site_id: row.try_get::<Option<Uuid>, _>("site_id")?.map(SiteId::from_uuid),
        zone_id: row.try_get::<Option<Uuid>, _>("zone_id")?.map(ZoneId::from_uuid),
        reason: text_column(row, "reason")?,
        started_at: row.try_get("started_at")?,
        released_at: row.try_get("released_at")?,
    })
}

/// A door's settings from a (possibly outer-joined) `door_settings` row: the defaults without one.
pub(super) fn decode_door_settings(row: &Row) -> StoreResult<DoorSettings> {
    let Some(mode) = row.try_get::<Option<String>, _>("mode")? else {
        return Ok(DoorSettings::default());
    };
    Ok(DoorSettings {
        mode: stored("mode", mode.parse())?,
        unlock_schedule_id: row.try_get::<Option<Uuid>, _>("unlock_schedule_id")?.map(ScheduleId::from_uuid),
        first_person_in: row.try_get::<Option<bool>, _>("first_person_in")?.unwrap_or(false),
        requires_pin: row.try_get::<Option<bool>, _>("requires_pin")?.unwrap_or(false),
    })
}

/// A zone's rules from a (possibly outer-joined) `zone_rules` row: the defaults without one.
pub(super) fn decode_zone_rules(row: &Row) -> StoreResult<ZoneRules> {
    let Some(anti_passback) = row.try_get::<Option<String>, _>("anti_passback")? else {
        return Ok(ZoneRules::default());
    };
    Ok(ZoneRules {
        anti_passback: stored("anti_passback", anti_passback.parse())?,
        anti_passback_reset_s: u32_column(row, "anti_passback_reset_s")?,
        occupancy_max: u32_column(row, "occupancy_max")?,
    })
}

#[async_trait]
impl DoorStore for This {
    // ---- Door settings and zone rules -----------------------------

    async fn door_settings_put(
        &self,
        tenant: TenantId,
        point: AccessPointId,
        settings: &DoorSettings,
        change: &ChangeContext,
    ) -> StoreResult<DoorSettings> {
        let mut tx = self.write(tenant).await?;
        let row = sqlx::query(
            "SELECT p.id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
             FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
             WHERE p.tenant_id = $1 AND p.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(point.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let before = decode_door_settings(&row)?;
        if let Some(schedule) = settings.unlock_schedule_id {
            require(&mut tx, "schedules", "unlock_schedule_id", tenant, schedule.as_uuid()).await?;
        }
        sqlx::query(
            "INSERT INTO door_settings (tenant_id, access_point_id, mode, unlock_schedule_id, first_person_in, requires_pin, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, access_point_id) DO UPDATE SET mode = excluded.mode, \
             unlock_schedule_id = excluded.unlock_schedule_id, first_person_in = excluded.first_person_in, \
             requires_pin = excluded.requires_pin, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_uuid())
        .bind(point.as_uuid())
        .bind(settings.mode.as_str())
        .bind(settings.unlock_schedule_id.map(|id| id.as_uuid()))
        .bind(settings.first_person_in)
        .bind(settings.requires_pin)
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(|err| StoreError::from(err).on_missing_reference("unlock_schedule_id"))?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "access.door.update",
            "access_point",
            Some(point.to_string()),
            state(&before),
            state(settings),
        )
        .await?;
        tx.commit().await?;
        Ok(*settings)
    }

    async fn door_settings_get(&self, tenant: TenantId, point: AccessPointId) -> StoreResult<DoorSettings> {
        let mut tx = self.read(tenant).await?;
        let row = sqlx::query(
            "SELECT p.id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
             FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
             WHERE p.tenant_id = $1 AND p.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(point.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        tx.finish().await?;
        decode_door_settings(&row.ok_or(StoreError::NotFound)?)
    }

    async fn zone_rules_put(
        &self,
        tenant: TenantId,
        zone: ZoneId,
        rules: &ZoneRules,
        change: &ChangeContext,
    ) -> StoreResult<ZoneRules> {
        let mut tx = self.write(tenant).await?;
        let row = sqlx::query(
            "SELECT z.id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
             FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
             WHERE z.tenant_id = $1 AND z.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(zone.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let before = decode_zone_rules(&row)?;
        sqlx::query(
            "INSERT INTO zone_rules (tenant_id, zone_id, anti_passback, anti_passback_reset_s, occupancy_max, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, zone_id) DO UPDATE SET anti_passback = excluded.anti_passback, \
             anti_passback_reset_s = excluded.anti_passback_reset_s, occupancy_max = excluded.occupancy_max, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant.as_uuid())
        .bind(zone.as_uuid())
        .bind(rules.anti_passback.as_str())
        .bind(rules.anti_passback_reset_s.map(i64::from))
        .bind(rules.occupancy_max.map(i64::from))
        .bind(change.at)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "access.zone_rules.update",
            "zone",
            Some(zone.to_string()),
            state(&before),
            state(rules),
        )
        .await?;
        tx.commit().await?;
        Ok(*rules)
    }

    async fn zone_rules_get(&self, tenant: TenantId, zone: ZoneId) -> StoreResult<ZoneRules> {
        let mut tx = self.read(tenant).await?;
        let row = sqlx::query(
            "SELECT z.id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
             FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
             WHERE z.tenant_id = $1 AND z.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(zone.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        tx.finish().await?;
        decode_zone_rules(&row.ok_or(StoreError::NotFound)?)
    }

    // ---- Lockdowns ------------------------------------------------

    async fn lockdown_create(&self, tenant: TenantId, new: &NewLockdown, change: &ChangeContext) -> StoreResult<Lockdown> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        if let Some(site) = new.site_id {
            require(&mut tx, "sites", "site_id", tenant, site.as_uuid()).await?;
        }
        if let Some(zone) = new.zone_id {
            require(&mut tx, "zones", "zone_id", tenant, zone.as_uuid()).await?;
        }
        let sql = format!(
            "INSERT INTO lockdowns ({LOCKDOWN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) RETURNING {LOCKDOWN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.scope.as_str())
            .bind(new.site_id.map(|id| id.as_uuid()))
            .bind(new.zone_id.map(|id| id.as_uuid()))
            .bind(new.reason.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| {
                let field = if new.zone_id.is_some() { "zone_id" } else { "site_id" };
                StoreError::from(err).on_missing_reference(field)
            })?;
        let lockdown = decode_lockdown(&row)?;
        LOCKDOWNS.commit_change(tx, tenant, change, "create", None, lockdown).await
    }

    async fn lockdown_get(&self, tenant: TenantId, id: LockdownId) -> StoreResult<Lockdown> {
        self.read_record(&LOCKDOWNS, tenant, id.as_uuid()).await
    }

    async fn lockdown_list(&self, tenant: TenantId, active_only: bool, page: PageRequest) -> StoreResult<Page<Lockdown>> {
        let mut query = LOCKDOWNS.select(tenant);
        if active_only {
            query.push(" AND released_at IS NULL");
        }
        self.read_page(&LOCKDOWNS, tenant, query, page).await
    }

    async fn lockdown_release(&self, tenant: TenantId, id: LockdownId, change: &ChangeContext) -> StoreResult<Lockdown> {
        let mut tx = self.write(tenant).await?;
        let before = LOCKDOWNS.get(&mut tx, tenant, id.as_uuid()).await?;
        if before.released_at.is_some() {
            tx.commit().await?;
            return Ok(before);
        }
        // Only the first release writes (and is recorded): a concurrent one finds it released.
        let sql = format!(
            "UPDATE lockdowns SET released_at = $3 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL \
             RETURNING {LOCKDOWN_COLUMNS}"
        );
        let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(id.as_uuid()).bind(change.at).fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            let current = LOCKDOWNS.get(&mut tx, tenant, id.as_uuid()).await?;
            tx.commit().await?;
            return Ok(current);
        };
        let lockdown = decode_lockdown(&row)?;
        LOCKDOWNS.commit_change(tx, tenant, change, "release", Some(&before), lockdown).await
    }
}
