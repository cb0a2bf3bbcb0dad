//! The SQL of [`crate::DeviceStore`]. Expanded by [`crate::sql::sql_store!`]
//! inside each backend's store module.
//!
//! A device's row never holds its secret: the digest lives in
//! `device_secrets`, which the broker reads by device id before it knows the
//! tenant. Every read of a device joins it for the credential's state only.

macro_rules! device_store_impl {
    ($store:ty, $db:ty, $row:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use gatehouse_domain::audit::ChangeContext;
            use gatehouse_domain::devices::*;
            use gatehouse_domain::values::Name;
            use gatehouse_domain::*;

            use crate::devices::*;

            const DEVICE_SELECT: &str = "SELECT d.id, d.tenant_id, d.kind, d.name, d.model, d.serial, d.firmware, \
                 d.capabilities, d.access_point_id, d.zone_id, d.config, d.status, d.last_seen, d.created_at, d.updated_at, \
                 s.issued_at AS secret_issued_at, s.revoked_at AS secret_revoked_at \
                 FROM devices d LEFT JOIN device_secrets s ON s.device_id = d.id WHERE d.tenant_id = ";

            fn decode_device(row: &$row) -> StoreResult<Device> {
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

            const COMMAND_COLUMNS: &str = "id, tenant_id, device_id, kind, params, priority, timeout_s, expires_at, status, \
                 attempts, sent_at, finished_at, result, error, created_at";

            fn decode_command(row: &$row) -> StoreResult<Command> {
                // `integer` on PostgreSQL (int4), which sqlx will not read as an i64.
                let count = |column: &'static str| -> StoreResult<u32> {
                    let n: i32 = row.try_get(column)?;
                    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{column}: {n} is out of range")))
                };
                Ok(Command {
                    id: CommandId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    device_id: DeviceId::from_uuid(row.try_get("device_id")?),
                    kind: stored("kind", row.try_get::<String, _>("kind")?.parse())?,
                    params: row
                        .try_get::<Json<serde_json::Value>, _>("params")
                        .map_err(|err| StoreError::Corrupt(format!("params: {err}")))?
                        .0,
                    priority: u8::try_from(count("priority")?).map_err(|_| StoreError::Corrupt("priority".into()))?,
                    timeout_s: count("timeout_s")?,
                    expires_at: row.try_get("expires_at")?,
                    status: stored("status", row.try_get::<String, _>("status")?.parse())?,
                    attempts: count("attempts")?,
                    sent_at: row.try_get("sent_at")?,
                    finished_at: row.try_get("finished_at")?,
                    result: row
                        .try_get::<Option<Json<serde_json::Value>>, _>("result")
                        .map_err(|err| StoreError::Corrupt(format!("result: {err}")))?
                        .map(|json| json.0),
                    error: row.try_get("error")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn fetch_command(conn: &mut Conn, tenant: TenantId, id: CommandId) -> StoreResult<Option<Command>> {
                let sql = format!("SELECT {COMMAND_COLUMNS} FROM device_commands WHERE tenant_id = $1 AND id = $2");
                let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(id.as_uuid()).fetch_optional(&mut *conn).await?;
                row.as_ref().map(decode_command).transpose()
            }

            /// Samples per multi-row INSERT (5 bound values each).
            const SAMPLES_PER_STATEMENT: usize = 1_000;
            /// Rollup rows per multi-row upsert (8 bound values each).
            const BUCKETS_PER_STATEMENT: usize = 500;

            fn truncate(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
                let secs = at.timestamp().div_euclid(seconds) * seconds;
                DateTime::from_timestamp(secs, 0).unwrap_or(at)
            }

            /// Merges the samples into `table`'s buckets of `seconds`.
            async fn merge_rollup(conn: &mut Conn, table: &'static str, seconds: i64, tenant: TenantId, samples: &[&Sample]) -> StoreResult<()> {
                let mut buckets: std::collections::BTreeMap<(Uuid, &str, DateTime<Utc>), (f64, f64, f64, i64)> = Default::default();
                for sample in samples {
                    let key = (sample.device.as_uuid(), sample.metric.as_str(), truncate(sample.at, seconds));
                    let entry = buckets.entry(key).or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0, 0));
                    entry.0 = entry.0.min(sample.value);
                    entry.1 = entry.1.max(sample.value);
                    entry.2 += sample.value;
                    entry.3 += 1;
                }
                let rows: Vec<_> = buckets.into_iter().collect();
                for chunk in rows.chunks(BUCKETS_PER_STATEMENT) {
                    let mut query = QueryBuilder::<Db>::new(format!("INSERT INTO {table} (tenant_id, device_id, metric, bucket, min, max, sum, count) "));
                    query.push_values(chunk, |mut row, ((device, metric, bucket), (min, max, sum, count))| {
                        row.push_bind(tenant.as_uuid())
                            .push_bind(*device)
                            .push_bind(metric.to_string())
                            .push_bind(*bucket)
                            .push_bind(*min)
                            .push_bind(*max)
                            .push_bind(*sum)
                            .push_bind(*count);
                    });
                    query.push(format!(
                        " ON CONFLICT (tenant_id, device_id, metric, bucket) DO UPDATE SET \
                         min = CASE WHEN excluded.min < {table}.min THEN excluded.min ELSE {table}.min END, \
                         max = CASE WHEN excluded.max > {table}.max THEN excluded.max ELSE {table}.max END, \
                         sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
                    ));
                    query.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            fn device_write_error(err: sqlx::Error) -> StoreError {
                StoreError::on_unique(err, "serial").on_missing_reference("access_point_id")
            }

            #[async_trait]
            impl crate::DeviceStore for $store {
                async fn device_create(
                    &self,
                    tenant: TenantId,
                    new: &NewDevice,
                    secret_sha256: [u8; 32],
                    change: &ChangeContext,
                ) -> StoreResult<Device> {
                    let config = new.check()?;
                    let mut tx = self.write(tenant).await?;
                    check_place(&mut *tx, tenant, new.access_point_id, new.zone_id).await?;
                    let id = Uuid::now_v7();
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
                    let device = fetch_device(&mut *tx, tenant, DeviceId::from_uuid(id)).await?;
                    record(&mut *tx, Some(tenant), change, "devices.device.create", "device", Some(device.id.to_string()), None, state(&device)).await?;
                    tx.commit().await?;
                    Ok(device)
                }

                async fn device_get(&self, tenant: TenantId, id: DeviceId) -> StoreResult<Device> {
                    let mut tx = self.read(tenant).await?;
                    let device = fetch_device(&mut *tx, tenant, id).await?;
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
                    let before = fetch_device(&mut *tx, tenant, id).await?;
                    let patched = before.clone().patched(patch)?;
                    check_place(&mut *tx, tenant, patched.access_point_id, patched.zone_id).await?;
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
                    let after = fetch_device(&mut *tx, tenant, id).await?;
                    record(&mut *tx, Some(tenant), change, "devices.device.update", "device", Some(id.to_string()), state(&before), state(&after)).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn device_delete(&self, tenant: TenantId, id: DeviceId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_device(&mut *tx, tenant, id).await?;
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
                    record(&mut *tx, Some(tenant), change, "devices.device.delete", "device", Some(id.to_string()), state(&before), None).await?;
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
                    let before = fetch_device(&mut *tx, tenant, id).await?;
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
                            sqlx::query(
                                "UPDATE device_secrets SET revoked_at = $3 WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL",
                            )
                            .bind(tenant.as_uuid())
                            .bind(id.as_uuid())
                            .bind(change.at)
                            .execute(&mut *tx)
                            .await?;
                            "devices.device.revoke_credentials"
                        }
                    };
                    let after = fetch_device(&mut *tx, tenant, id).await?;
                    record(&mut *tx, Some(tenant), change, action, "device", Some(id.to_string()), state(&before), state(&after)).await?;
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

                async fn command_create(
                    &self,
                    tenant: TenantId,
                    device: DeviceId,
                    command: &QueuedCommand,
                    change: &ChangeContext,
                ) -> StoreResult<Command> {
                    let mut tx = self.write(tenant).await?;
                    require(&mut *tx, "devices", "device_id", tenant, device.as_uuid()).await?;
                    let id = CommandId::generate();
                    sqlx::query(
                        "INSERT INTO device_commands (id, tenant_id, device_id, kind, params, priority, timeout_s, expires_at, status, \
                         attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9)",
                    )
                    .bind(id.as_uuid())
                    .bind(tenant.as_uuid())
                    .bind(device.as_uuid())
                    .bind(command.kind.as_str())
                    .bind(Json(&command.params))
                    .bind(i64::from(command.priority))
                    .bind(i64::from(command.timeout_s))
                    .bind(command.expires_at)
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await?;
                    let created = fetch_command(&mut *tx, tenant, id).await?.ok_or(StoreError::NotFound)?;
                    record(&mut *tx, Some(tenant), change, "devices.command.create", "device", Some(device.to_string()), None, state(&created)).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn command_get(&self, tenant: TenantId, device: DeviceId, id: CommandId) -> StoreResult<Command> {
                    let mut tx = self.read(tenant).await?;
                    let found = fetch_command(&mut *tx, tenant, id).await?;
                    tx.finish().await?;
                    found.filter(|command| command.device_id == device).ok_or(StoreError::NotFound)
                }

                async fn command_list(&self, tenant: TenantId, device: DeviceId, page: PageRequest) -> StoreResult<Page<Command>> {
                    let mut tx = self.read(tenant).await?;
                    require(&mut *tx, "devices", "device_id", tenant, device.as_uuid()).await.map_err(|_| StoreError::NotFound)?;
                    let mut query = QueryBuilder::<Db>::new(format!("SELECT {COMMAND_COLUMNS} FROM device_commands WHERE tenant_id = "));
                    query.push_bind(tenant.as_uuid()).push(" AND device_id = ").push_bind(device.as_uuid());
                    if let Some(after) = page.after {
                        query.push(" AND id < ").push_bind(after);
                    }
                    query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows = query.build().fetch_all(&mut *tx).await?;
                    tx.finish().await?;
                    paged(rows, page.limit, decode_command, |command| command.id.as_uuid())
                }

                async fn command_next(&self, tenant: TenantId, device: DeviceId, now: DateTime<Utc>) -> StoreResult<Option<Command>> {
                    let mut tx = self.write(tenant).await?;
                    sqlx::query(
                        "UPDATE device_commands SET status = 'expired', finished_at = $3, error = 'expired before it could be sent' \
                         WHERE tenant_id = $1 AND device_id = $2 AND status = 'queued' AND expires_at <= $3",
                    )
                    .bind(tenant.as_uuid())
                    .bind(device.as_uuid())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let sql = format!(
                        "SELECT {COMMAND_COLUMNS} FROM device_commands WHERE tenant_id = $1 AND device_id = $2 AND status = 'queued' \
                         ORDER BY priority DESC, id LIMIT 1"
                    );
                    let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(device.as_uuid()).fetch_optional(&mut *tx).await?;
                    tx.commit().await?;
                    row.as_ref().map(decode_command).transpose()
                }

                async fn command_sent(&self, tenant: TenantId, id: CommandId, at: DateTime<Utc>) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    sqlx::query(
                        "UPDATE device_commands SET status = 'sent', attempts = attempts + 1, sent_at = COALESCE(sent_at, $3) \
                         WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'sent')",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn command_finish(&self, tenant: TenantId, id: CommandId, outcome: &CommandOutcome) -> StoreResult<Option<Command>> {
                    let mut tx = self.write(tenant).await?;
                    let changed = sqlx::query(
                        "UPDATE device_commands SET status = $3, result = $4, error = $5, finished_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'sent')",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(outcome.status.as_str())
                    .bind(outcome.result.as_ref().map(Json))
                    .bind(outcome.error.as_deref())
                    .bind(outcome.at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let finished = if changed == 1 { fetch_command(&mut *tx, tenant, id).await? } else { None };
                    tx.commit().await?;
                    Ok(finished)
                }

                async fn command_queue_expiry(&self, tenant: TenantId, device: DeviceId) -> StoreResult<Option<DateTime<Utc>>> {
                    let mut tx = self.read(tenant).await?;
                    let rows = sqlx::query(
                        "SELECT expires_at FROM device_commands WHERE tenant_id = $1 AND device_id = $2 AND status = 'queued' \
                         ORDER BY expires_at LIMIT 1",
                    )
                    .bind(tenant.as_uuid())
                    .bind(device.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.finish().await?;
                    Ok(rows.map(|row| row.try_get("expires_at")).transpose()?)
                }

                async fn device_tenants(&self) -> StoreResult<Vec<TenantId>> {
                    // device_secrets has no row-level security: every device has a row there.
                    let mut tx = self.read_platform().await?;
                    let rows = sqlx::query("SELECT DISTINCT tenant_id FROM device_secrets").fetch_all(&mut *tx).await?;
                    tx.finish().await?;
                    rows.iter().map(|row| Ok(TenantId::from_uuid(row.try_get("tenant_id")?))).collect()
                }

                async fn telemetry_append(&self, samples: &[Sample]) -> StoreResult<()> {
                    if samples.is_empty() {
                        return Ok(());
                    }
                    let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<&Sample>> = Default::default();
                    for sample in samples {
                        by_tenant.entry(sample.tenant).or_default().push(sample);
                    }
                    // One transaction for the whole batch, whatever tenants it spans: the
                    // writer retries a failed batch whole, so a part committed on its own
                    // would have its samples and rollup sums counted again. On PostgreSQL
                    // the transaction enters each tenant in turn for row-level security,
                    // as an access-log batch does; every statement still names its tenant.
                    let Some(first) = by_tenant.keys().next().copied() else { return Ok(()) };
                    let mut tx = self.write(first).await?;
                    for (tenant, samples) in &by_tenant {
                        <$store>::enter_tenant(&mut *tx, *tenant).await?;
                        for chunk in samples.chunks(SAMPLES_PER_STATEMENT) {
                            let mut query = QueryBuilder::<Db>::new("INSERT INTO telemetry_raw (tenant_id, device_id, metric, at, value) ");
                            query.push_values(chunk, |mut row, sample| {
                                row.push_bind(sample.tenant.as_uuid())
                                    .push_bind(sample.device.as_uuid())
                                    .push_bind(sample.metric.clone())
                                    .push_bind(sample.at)
                                    .push_bind(sample.value);
                            });
                            query.build().execute(&mut *tx).await.map_err(|err| StoreError::on_missing_reference(err.into(), "device_id"))?;
                        }
                        merge_rollup(&mut *tx, "telemetry_1m", 60, *tenant, samples).await?;
                        merge_rollup(&mut *tx, "telemetry_1h", 3600, *tenant, samples).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn telemetry_series(
                    &self,
                    tenant: TenantId,
                    device: DeviceId,
                    metric: &str,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                    resolution: Resolution,
                    limit: u32,
                ) -> StoreResult<Vec<SeriesPoint>> {
                    let mut tx = self.read(tenant).await?;
                    let sql = match resolution {
                        Resolution::Raw => "SELECT at, value AS min, value AS max, value AS sum, CAST(1 AS BIGINT) AS count FROM telemetry_raw \
                             WHERE tenant_id = $1 AND device_id = $2 AND metric = $3 AND at >= $4 AND at < $5 ORDER BY at LIMIT $6",
                        Resolution::Minute => "SELECT bucket AS at, min, max, sum, count FROM telemetry_1m \
                             WHERE tenant_id = $1 AND device_id = $2 AND metric = $3 AND bucket >= $4 AND bucket < $5 ORDER BY bucket LIMIT $6",
                        Resolution::Hour => "SELECT bucket AS at, min, max, sum, count FROM telemetry_1h \
                             WHERE tenant_id = $1 AND device_id = $2 AND metric = $3 AND bucket >= $4 AND bucket < $5 ORDER BY bucket LIMIT $6",
                    };
                    let rows = sqlx::query(sql)
                        .bind(tenant.as_uuid())
                        .bind(device.as_uuid())
                        .bind(metric)
                        .bind(from)
                        .bind(to)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.finish().await?;
                    rows.iter()
                        .map(|row| {
                            let count: i64 = row.try_get("count")?;
                            Ok(SeriesPoint {
                                at: row.try_get("at")?,
                                min: row.try_get("min")?,
                                max: row.try_get("max")?,
                                sum: row.try_get("sum")?,
                                count: u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("count: {count}")))?,
                            })
                        })
                        .collect()
                }

                async fn telemetry_purge(&self, tenant: TenantId, cutoffs: TelemetryCutoffs) -> StoreResult<u64> {
                    let mut tx = self.write(tenant).await?;
                    let mut deleted = 0;
                    for (sql, before) in [
                        ("DELETE FROM telemetry_raw WHERE tenant_id = $1 AND at < $2", cutoffs.raw_before),
                        ("DELETE FROM telemetry_1m WHERE tenant_id = $1 AND bucket < $2", cutoffs.minute_before),
                        ("DELETE FROM telemetry_1h WHERE tenant_id = $1 AND bucket < $2", cutoffs.hour_before),
                    ] {
                        deleted += sqlx::query(sql).bind(tenant.as_uuid()).bind(before).execute(&mut *tx).await?.rows_affected();
                    }
                    tx.commit().await?;
                    Ok(deleted)
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

                async fn commands_open(&self, tenant: TenantId) -> StoreResult<Vec<Command>> {
                    let mut tx = self.read(tenant).await?;
                    let sql = format!(
                        "SELECT {COMMAND_COLUMNS} FROM device_commands WHERE tenant_id = $1 AND status IN ('queued', 'sent') ORDER BY id"
                    );
                    let rows = sqlx::query(&sql).bind(tenant.as_uuid()).fetch_all(&mut *tx).await?;
                    tx.finish().await?;
                    rows.iter().map(decode_command).collect()
                }

                // unlock batch (wt/services): the commands and the access-log entry that
                // records them in one transaction. Self-contained on purpose (it is ported
                // by hand into the split store); it uses only `require`, `record`, `state`
                // and `fetch_command` of the store's helpers.
                async fn commands_create_logged(
                    &self,
                    tenant: TenantId,
                    commands: &[CommandToQueue],
                    entry: &gatehouse_access::chain::LogRecord,
                    change: &ChangeContext,
                ) -> StoreResult<Vec<Command>> {
                    use chrono::SubsecRound as _;
                    if entry.tenant_id != tenant {
                        return Err(ValidationError::new("tenant_id", "the access-log entry belongs to another tenant").into());
                    }
                    let mut tx = self.write(tenant).await?;
                    let mut created = Vec::with_capacity(commands.len());
                    for queued in commands {
                        require(&mut *tx, "devices", "device_id", tenant, queued.device.as_uuid()).await?;
                        sqlx::query(
                            "INSERT INTO device_commands (id, tenant_id, device_id, kind, params, priority, timeout_s, expires_at, \
                             status, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9)",
                        )
                        .bind(queued.id.as_uuid())
                        .bind(tenant.as_uuid())
                        .bind(queued.device.as_uuid())
                        .bind(queued.command.kind.as_str())
                        .bind(Json(&queued.command.params))
                        .bind(i64::from(queued.command.priority))
                        .bind(i64::from(queued.command.timeout_s))
                        .bind(queued.command.expires_at)
                        .bind(change.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "id"))?;
                        let command = fetch_command(&mut *tx, tenant, queued.id).await?.ok_or(StoreError::NotFound)?;
                        let target = Some(queued.device.to_string());
                        record(&mut *tx, Some(tenant), change, "devices.command.create", "device", target, None, state(&command)).await?;
                        created.push(command);
                    }
                    sqlx::query(
                        "INSERT INTO access_log (tenant_id, seq, id, at, kind, access_point_id, person_id, credential_id, \
                         credential_kind, direction, granted, reason, door_action, rule, detail, prev_hash, hash) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    )
                    .bind(tenant.as_uuid())
                    .bind(entry.seq)
                    .bind(entry.id.as_uuid())
                    // The hash covers microseconds; both databases keep exactly those.
                    .bind(entry.at.trunc_subsecs(6))
                    .bind(entry.kind.as_str())
                    .bind(entry.access_point_id.map(|id| id.as_uuid()))
                    .bind(entry.person_id.map(|id| id.as_uuid()))
                    .bind(entry.credential_id.map(|id| id.as_uuid()))
                    .bind(entry.credential_kind.as_deref())
                    .bind(entry.direction.as_deref())
                    .bind(entry.granted)
                    .bind(entry.reason.as_deref())
                    .bind(entry.door_action.as_deref())
                    .bind(entry.rule.as_deref())
                    .bind(entry.detail.as_deref())
                    .bind(&entry.prev_hash[..])
                    .bind(&entry.hash[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::on_unique(err, "seq"))?;
                    // The head moves only from the entry this one continues, as an access-log
                    // batch's does: a writer whose view of the head is stale writes nothing.
                    let starts_chain = entry.seq == 1 && entry.prev_hash == gatehouse_access::chain::GENESIS;
                    let moved = if starts_chain {
                        sqlx::query(
                            "INSERT INTO access_log_heads (tenant_id, seq, hash, updated_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (tenant_id) DO NOTHING",
                        )
                        .bind(tenant.as_uuid())
                        .bind(entry.seq)
                        .bind(&entry.hash[..])
                        .bind(entry.at.trunc_subsecs(6))
                        .execute(&mut *tx)
                        .await?
                    } else {
                        sqlx::query(
                            "UPDATE access_log_heads SET seq = $2, hash = $3, updated_at = $4 \
                             WHERE tenant_id = $1 AND seq = $5 AND hash = $6",
                        )
                        .bind(tenant.as_uuid())
                        .bind(entry.seq)
                        .bind(&entry.hash[..])
                        .bind(entry.at.trunc_subsecs(6))
                        .bind(entry.seq - 1)
                        .bind(&entry.prev_hash[..])
                        .execute(&mut *tx)
                        .await?
                    };
                    if moved.rows_affected() != 1 {
                        return Err(StoreError::Conflict { field: "seq" });
                    }
                    tx.commit().await?;
                    Ok(created)
                }
            }
        };
    };
}
pub(crate) use device_store_impl;
