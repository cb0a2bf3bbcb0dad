use gatehouse_domain::people::PersonStatus;

use super::*;

#[async_trait]
impl PolicyStore for This {
    async fn access_policy(&self, tenant: TenantId) -> StoreResult<StoredPolicy> {
        let mut tx = self.read_snapshot(tenant).await?;
        let t = tenant.as_uuid();
        // First, in the same snapshot: the records below include every change up to it.
        let version = sqlx::query("SELECT version FROM policy_versions WHERE tenant_id = $1")
            .bind(t)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<i64, _>("version"))
            .transpose()?
            .map_or(Ok(0), |version| {
                u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("policy version {version}")))
            })?;

        let sites = rows_of_tenant(&mut tx, "SELECT id, time_zone FROM sites WHERE tenant_id = $1 ORDER BY id", tenant, |row| {
            // A stored zone that no longer parses is corrupt, not UTC.
            let time_zone = stored("time_zone", TimeZone::parse(&text_column(row, "time_zone")?))?;
            Ok((SiteId::from_uuid(row.try_get("id")?), time_zone.tz()))
        })
        .await?;

        let zones = rows_of_tenant(
            &mut tx,
            "SELECT z.id, z.site_id, z.parent_id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
             FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
             WHERE z.tenant_id = $1 ORDER BY z.id",
            tenant,
            |row| {
                Ok(ZonePlace {
                    id: ZoneId::from_uuid(row.try_get("id")?),
                    site_id: SiteId::from_uuid(row.try_get("site_id")?),
                    parent_id: row.try_get::<Option<Uuid>, _>("parent_id")?.map(ZoneId::from_uuid),
                    rules: decode_zone_rules(row)?,
                })
            },
        )
        .await?;

        let points = rows_of_tenant(
            &mut tx,
            "SELECT p.id, p.zone_id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
             FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
             WHERE p.tenant_id = $1 ORDER BY p.id",
            tenant,
            |row| {
                Ok(PointPlace {
                    id: AccessPointId::from_uuid(row.try_get("id")?),
                    zone_id: ZoneId::from_uuid(row.try_get("zone_id")?),
                    door: decode_door_settings(row)?,
                })
            },
        )
        .await?;

        let people: Vec<(PersonId, PersonStatus)> =
            rows_of_tenant(&mut tx, "SELECT id, status FROM people WHERE tenant_id = $1 ORDER BY id", tenant, |row| {
                Ok((PersonId::from_uuid(row.try_get("id")?), stored("status", text_column(row, "status")?.parse())?))
            })
            .await?;

        let credentials = all_in_tenant(
            &mut tx,
            "credentials",
            "id, person_id, kind, lookup_key, status, valid_from, valid_until, single_use, used_at",
            tenant,
            decode_credential_entry,
        )
        .await?;
        let schedules = SCHEDULES.all(&mut tx, tenant).await?;
        let holidays = HOLIDAY_CALENDARS.all(&mut tx, tenant).await?;

        let mut levels = ACCESS_LEVELS.all(&mut tx, tenant).await?;
        let mut entries = level_entries(&mut tx, tenant, None).await?;
        for level in &mut levels {
            level.entries = entries.remove(&level.id.as_uuid()).unwrap_or_default();
        }

        let grants = GRANTS.all(&mut tx, tenant).await?;

        let group_ids: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM groups WHERE tenant_id = $1 ORDER BY id").bind(t).fetch_all(&mut *tx).await?;
        let mut members = group_members(&mut tx, tenant, None).await?;
        let groups = group_ids.into_iter().map(|id| (GroupId::from_uuid(id), members.remove(&id).unwrap_or_default())).collect();

        let denials = DENIALS.all(&mut tx, tenant).await?;

        let sql = format!("SELECT {LOCKDOWN_COLUMNS} FROM lockdowns WHERE tenant_id = $1 AND released_at IS NULL ORDER BY id");
        let lockdowns = rows_of_tenant(&mut tx, &sql, tenant, decode_lockdown).await?;

        tx.finish().await?;
        let records = PolicyRecords {
            sites,
            zones,
            points,
            people,
            credentials,
            schedules,
            holidays,
            levels,
            grants,
            groups,
            denials,
            lockdowns,
        };
        Ok(StoredPolicy { version, records })
    }

    async fn policy_versions(&self) -> StoreResult<Vec<(TenantId, u64)>> {
        let mut tx = self.read_platform().await?;
        let rows = sqlx::query("SELECT tenant_id, version FROM policy_versions").fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter()
            .map(|row| {
                let version: i64 = row.try_get("version")?;
                let version = u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("policy version {version}")))?;
                Ok((TenantId::from_uuid(row.try_get("tenant_id")?), version))
            })
            .collect()
    }
}
