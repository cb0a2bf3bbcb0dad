//! The device registry: devices, their secrets (the digest lives in
//! `device_secrets`, which the broker reads by device id before it knows the
//! tenant; every read of a device joins it for the credential's state only) and
//! what the edge reports about them.

use chrono::{DateTime, Utc};
use gatehouse_domain::devices::*;

use super::*;
use crate::devices::*;

const DEVICE_SELECT: &str = "SELECT d.id, d.tenant_id, d.kind, d.name, d.model, d.serial, d.firmware, \
     d.capabilities, d.access_point_id, d.zone_id, d.config, d.status, d.last_seen, d.created_at, d.updated_at, \
     s.issued_at AS secret_issued_at, s.revoked_at AS secret_revoked_at \
     FROM devices d LEFT JOIN device_secrets s ON s.device_id = d.id WHERE d.tenant_id = ";

fn decode_device(row: &Row) -> StoreResult<Device> {
    let revoked_at: Option<DateTime<Utc>> = row.try_get("secret_revoked_at")?;
    let issued_at: Option<DateTime<Utc>> = row.try_get("secret_issued_at")?;
    Ok(Device {
        id: DeviceId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        kind: stored("kind", row.try_get::<String, _>("kind")?.parse())?,
        name: stored("name", Name::parse(&row.try_get::<String, _>("name")?))?,
        model: row.try_get("model")?,
        serial: row.try_get("serial")?,
        firmware: row.try_get("firmware")?,
        capabilities: row
            .try_get::<Json<Vec<String>>, _>("capabilities")
            .map_err(|err| StoreError::Corrupt(format!("capabilities: {err}")))?
            .0,
        access_point_id: row.try_get::<Option<Uuid>, _>("access_point_id")?.map(AccessPointId::from_uuid),
        zone_id: row.try_get::<Option<Uuid>, _>("zone_id")?.map(ZoneId::from_uuid),
        config: row
            .try_get::<Json<serde_json::Value>, _>("config")
            .map_err(|err| StoreError::Corrupt(format!("config: {err}")))?
            .0,
        status: stored("status", row.try_get::<String, _>("status")?.parse())?,
        last_seen: row.try_get("last_seen")?,
        credentials_active: issued_at.is_some() && revoked_at.is_none(),
        credentials_issued_at: issued_at,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
async fn fetch_device(conn: &mut Conn, tenant: TenantId, id: DeviceId) -> StoreResult<Device> {
    let mut query = QueryBuilder::<Db>::new(DEVICE_SELECT);
    query.push_bind(tenant.as_uuid()).push(" AND d.id = ").push_bind(id.as_uuid());
    let row = query.build().fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_device).transpose()?.ok_or(StoreError::NotFound)
}
/// The access point or zone a device serves must be the tenant's.
async fn check_place(
    conn: &mut Conn,
    tenant: TenantId,
    access_point: Option<AccessPointId>,
    zone: Option<ZoneId>,
) -> StoreResult<()> {
    if let Some(point) = access_point {
        require(&mut *conn, "access_points", "access_point_id", tenant, point.as_uuid()).await?;
    }
    if let Some(zone) = zone {
        require(&mut *conn, "zones", "zone_id", tenant, zone.as_uuid()).await?;
    }
    Ok(())
}
fn device_write_error(err: sqlx::Error) -> StoreError {
    StoreError::on_unique(err, "serial").on_missing_reference("access_point_id")
}

#[async_trait]
impl DeviceStore for This {
    async fn device_create(
        &self,
        tenant: TenantId,
        new: &NewDevice,
        secret_sha256: [u8; 32],
        change: &ChangeContext,
    ) -> StoreResult<Device> {
        let config = new.check()?;
        let mut tx = self.write(tenant).await?;
        check_place(&mut tx, tenant, new.access_point_id, new.zone_id).await?;
        let id = new_id(change.at);
        sqlx::query(
            "INSERT INTO devices (id, tenant_id, kind, name, model, serial, firmware, capabilities, access_point_id, \
             zone_id, config, status, last_seen, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'offline', NULL, $12, $12)",
        )
        .bind(id)
        .bind(tenant.as_uuid())
        .bind(new.kind.as_str())
        .bind(new.name.as_str())
        .bind(new.model.as_deref())
        .bind(new.serial.as_deref())
        .bind(new.firmware.as_deref())
        .bind(Json(&new.capabilities))
        .bind(new.access_point_id.map(|id| id.as_uuid()))
        .bind(new.zone_id.map(|id| id.as_uuid()))
        .bind(Json(&config))
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(device_write_error)?;
        sqlx::query("INSERT INTO device_secrets (device_id, tenant_id, secret_sha256, issued_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(tenant.as_uuid())
            .bind(&secret_sha256[..])
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        let device = fetch_device(&mut tx, tenant, DeviceId::from_uuid(id)).await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "devices.device.create",
            "device",
            Some(device.id.to_string()),
            None,
            state(&device),
        )
        .await?;
        tx.commit().await?;
        Ok(device)
    }

    async fn device_get(&self, tenant: TenantId, id: DeviceId) -> StoreResult<Device> {
        let mut tx = self.read(tenant).await?;
        let device = fetch_device(&mut tx, tenant, id).await?;
        tx.finish().await?;
        Ok(device)
    }

    async fn device_list(&self, tenant: TenantId, filter: &DeviceFilter, page: PageRequest) -> StoreResult<Page<Device>> {
        let mut tx = self.read(tenant).await?;
        let mut query = QueryBuilder::<Db>::new(DEVICE_SELECT);
        query.push_bind(tenant.as_uuid());
        if let Some(kind) = filter.kind {
            query.push(" AND d.kind = ").push_bind(kind.as_str());
        }
        if let Some(status) = filter.status {
            query.push(" AND d.status = ").push_bind(status.as_str());
        }
        if let Some(point) = filter.access_point_id {
            query.push(" AND d.access_point_id = ").push_bind(point.as_uuid());
        }
        if let Some(zone) = filter.zone_id {
            query.push(" AND d.zone_id = ").push_bind(zone.as_uuid());
        }
        if let Some(needle) = &filter.name_contains {
            query.push(" AND lower(d.name) LIKE ").push_bind(contains_pattern(needle)).push(" ESCAPE '\\'");
        }
        if let Some(after) = page.after {
            query.push(" AND d.id > ").push_bind(after);
        }
        query.push(" ORDER BY d.id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&mut *tx).await?;
        tx.finish().await?;
        paged(rows, page.limit, decode_device, |device| device.id.as_uuid())
    }

    async fn device_update(
        &self,
        tenant: TenantId,
        id: DeviceId,
        patch: &DevicePatch,
        change: &ChangeContext,
    ) -> StoreResult<Device> {
        let mut tx = self.write(tenant).await?;
        let before = fetch_device(&mut tx, tenant, id).await?;
        let patched = before.clone().patched(patch)?;
        check_place(&mut tx, tenant, patched.access_point_id, patched.zone_id).await?;
        sqlx::query(
            "UPDATE devices SET name = $3, model = $4, serial = $5, firmware = $6, capabilities = $7, \
             access_point_id = $8, zone_id = $9, config = $10, updated_at = $11 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(patched.name.as_str())
        .bind(patched.model.as_deref())
        .bind(patched.serial.as_deref())
        .bind(patched.firmware.as_deref())
        .bind(Json(&patched.capabilities))
        .bind(patched.access_point_id.map(|id| id.as_uuid()))
        .bind(patched.zone_id.map(|id| id.as_uuid()))
        .bind(Json(&patched.config))
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(device_write_error)?;
        let after = fetch_device(&mut tx, tenant, id).await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "devices.device.update",
            "device",
            Some(id.to_string()),
            state(&before),
            state(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn device_delete(&self, tenant: TenantId, id: DeviceId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = fetch_device(&mut tx, tenant, id).await?;
        sqlx::query("DELETE FROM device_secrets WHERE tenant_id = $1 AND device_id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM devices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        record(&mut tx, Some(tenant), change, "devices.device.delete", "device", Some(id.to_string()), state(&before), None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn device_set_secret(
        &self,
        tenant: TenantId,
        id: DeviceId,
        secret_sha256: Option<[u8; 32]>,
        change: &ChangeContext,
    ) -> StoreResult<Device> {
        let mut tx = self.write(tenant).await?;
        let before = fetch_device(&mut tx, tenant, id).await?;
        let action = match secret_sha256 {
            Some(digest) => {
                sqlx::query(
                    "UPDATE device_secrets SET secret_sha256 = $3, issued_at = $4, revoked_at = NULL \
                     WHERE tenant_id = $1 AND device_id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(&digest[..])
                .bind(change.at)
                .execute(&mut *tx)
                .await?;
                "devices.device.rotate_credentials"
            }
            None => {
                let revoked = sqlx::query(
                    "UPDATE device_secrets SET revoked_at = $3 WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(change.at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if revoked == 0 {
                    // Revoked already: nothing changes, nothing is recorded.
                    tx.commit().await?;
                    return Ok(before);
                }
                "devices.device.revoke_credentials"
            }
        };
        let after = fetch_device(&mut tx, tenant, id).await?;
        record(&mut tx, Some(tenant), change, action, "device", Some(id.to_string()), state(&before), state(&after)).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn device_secret(&self, id: DeviceId) -> StoreResult<Option<DeviceSecret>> {
        let mut tx = self.read_platform().await?;
        let row = sqlx::query("SELECT device_id, tenant_id, secret_sha256, revoked_at FROM device_secrets WHERE device_id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(DeviceSecret {
            device: DeviceId::from_uuid(row.try_get("device_id")?),
            tenant: TenantId::from_uuid(row.try_get("tenant_id")?),
            secret_sha256: crate::access_log_sql::hash32("secret_sha256", row.try_get("secret_sha256")?)?,
            revoked: row.try_get::<Option<DateTime<Utc>>, _>("revoked_at")?.is_some(),
        }))
    }

    async fn device_seen(
        &self,
        tenant: TenantId,
        id: DeviceId,
        status: DeviceStatus,
        firmware: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<DeviceStatus> {
        let mut tx = self.write(tenant).await?;
        let before: Option<String> = sqlx::query_scalar("SELECT status FROM devices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        let before: DeviceStatus = stored("status", before.ok_or(StoreError::NotFound)?.parse())?;
        sqlx::query(
            "UPDATE devices SET status = $3, last_seen = $4, firmware = COALESCE($5, firmware) \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(status.as_str())
        .bind(at)
        .bind(firmware)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(before)
    }

    async fn device_liveness(&self, tenant: TenantId) -> StoreResult<Vec<DeviceLiveness>> {
        let mut tx = self.read(tenant).await?;
        let rows = sqlx::query("SELECT id, last_seen, config FROM devices WHERE tenant_id = $1 AND status <> 'offline'")
            .bind(tenant.as_uuid())
            .fetch_all(&mut *tx)
            .await?;
        tx.finish().await?;
        rows.iter()
            .map(|row| {
                let config: Json<serde_json::Value> = row.try_get("config")?;
                Ok(DeviceLiveness {
                    device: DeviceId::from_uuid(row.try_get("id")?),
                    last_seen: row.try_get("last_seen")?,
                    heartbeat_seconds: gatehouse_domain::devices::heartbeat_seconds(&config.0),
                })
            })
            .collect()
    }

    async fn device_tenants(&self) -> StoreResult<Vec<TenantId>> {
        // device_secrets has no row-level security: every device has a row there.
        let mut tx = self.read_platform().await?;
        let rows = sqlx::query("SELECT DISTINCT tenant_id FROM device_secrets").fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(|row| Ok(TenantId::from_uuid(row.try_get("tenant_id")?))).collect()
    }

    async fn device_touch(&self, tenant: TenantId, heard: &[(DeviceId, DateTime<Utc>)]) -> StoreResult<()> {
        if heard.is_empty() {
            return Ok(());
        }
        let mut tx = self.write(tenant).await?;
        for (device, at) in heard {
            sqlx::query(
                "UPDATE devices SET last_seen = $3 WHERE tenant_id = $1 AND id = $2 AND (last_seen IS NULL OR last_seen < $3)",
            )
            .bind(tenant.as_uuid())
            .bind(device.as_uuid())
            .bind(*at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn device_mark_offline(&self, tenant: TenantId, id: DeviceId, silent_since: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write(tenant).await?;
        let marked = sqlx::query(
            "UPDATE devices SET status = 'offline' WHERE tenant_id = $1 AND id = $2 AND status <> 'offline' \
             AND (last_seen IS NULL OR last_seen < $3)",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(silent_since)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(marked == 1)
    }
}
