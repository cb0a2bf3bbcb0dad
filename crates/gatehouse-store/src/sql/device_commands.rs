//! Each device's command queue, and commands queued together with the access-log
//! entry that records them (a remote unlock), in one transaction.

use chrono::{DateTime, Utc};
use gatehouse_domain::devices::*;

use super::*;
use crate::access_log_sql::TenantBatch;
use crate::devices::*;
use gatehouse_access::chain::LogRecord;

const COMMAND_COLUMNS: &str = "id, tenant_id, device_id, kind, params, priority, timeout_s, expires_at, status, \
     attempts, sent_at, finished_at, result, error, created_at";

fn decode_command(row: &Row) -> StoreResult<Command> {
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

/// Queues one command for a device of the tenant, with its audit entry.
async fn insert_command(
    conn: &mut Conn,
    tenant: TenantId,
    id: CommandId,
    device: DeviceId,
    command: &QueuedCommand,
    change: &ChangeContext,
) -> StoreResult<Command> {
    require(conn, "devices", "device_id", tenant, device.as_uuid()).await?;
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
    .execute(&mut *conn)
    .await
    .map_err(|err| StoreError::on_unique(err, "id"))?;
    let created = fetch_command(conn, tenant, id).await?.ok_or(StoreError::NotFound)?;
    let target = Some(device.to_string());
    record(conn, Some(tenant), change, "devices.command.create", "device", target, None, state(&created)).await?;
    Ok(created)
}

#[async_trait]
impl CommandStore for This {
    async fn command_create(
        &self,
        tenant: TenantId,
        device: DeviceId,
        command: &QueuedCommand,
        change: &ChangeContext,
    ) -> StoreResult<Command> {
        let mut tx = self.write(tenant).await?;
        let created = insert_command(&mut tx, tenant, CommandId::from_uuid(new_id(change.at)), device, command, change).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn command_get(&self, tenant: TenantId, device: DeviceId, id: CommandId) -> StoreResult<Command> {
        let mut tx = self.read(tenant).await?;
        let found = fetch_command(&mut tx, tenant, id).await?;
        tx.finish().await?;
        found.filter(|command| command.device_id == device).ok_or(StoreError::NotFound)
    }

    async fn command_list(&self, tenant: TenantId, device: DeviceId, page: PageRequest) -> StoreResult<Page<Command>> {
        let mut tx = self.read(tenant).await?;
        require(&mut tx, "devices", "device_id", tenant, device.as_uuid()).await.map_err(|_| StoreError::NotFound)?;
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
        let finished = if changed == 1 { fetch_command(&mut tx, tenant, id).await? } else { None };
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

    async fn commands_open(&self, tenant: TenantId) -> StoreResult<Vec<Command>> {
        let mut tx = self.read(tenant).await?;
        let sql = format!(
            "SELECT {COMMAND_COLUMNS} FROM device_commands WHERE tenant_id = $1 AND status IN ('queued', 'sent') ORDER BY id"
        );
        let rows = sqlx::query(&sql).bind(tenant.as_uuid()).fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode_command).collect()
    }

    async fn commands_create_logged(
        &self,
        tenant: TenantId,
        commands: &[CommandToQueue],
        entry: &LogRecord,
        change: &ChangeContext,
    ) -> StoreResult<Vec<Command>> {
        if entry.tenant_id != tenant {
            return Err(ValidationError::new("tenant_id", "the access-log entry belongs to another tenant").into());
        }
        let mut tx = self.write(tenant).await?;
        let mut created = Vec::with_capacity(commands.len());
        for queued in commands {
            created.push(insert_command(&mut tx, tenant, queued.id, queued.device, &queued.command, change).await?);
        }
        // The entry moves the head exactly as an access-log batch of one would.
        This::append_tenant(&mut tx, &TenantBatch { tenant, records: vec![entry], uses: Vec::new(), messages: Vec::new() })
            .await?;
        tx.commit().await?;
        Ok(created)
    }
}
