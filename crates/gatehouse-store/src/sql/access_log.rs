use super::*;

use crate::access_log_sql::{by_tenant, hash32, LogOrder, LOG_COLUMNS};
use gatehouse_access::chain::*;
use gatehouse_domain::*;

fn decode_log_record(row: &Row) -> StoreResult<LogRecord> {
    let kind: String = row.try_get("kind")?;
    Ok(LogRecord {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        seq: row.try_get("seq")?,
        id: DecisionId::from_uuid(row.try_get("id")?),
        at: row.try_get("at")?,
        kind: stored("kind", kind.parse())?,
        access_point_id: row.try_get::<Option<Uuid>, _>("access_point_id")?.map(AccessPointId::from_uuid),
        person_id: row.try_get::<Option<Uuid>, _>("person_id")?.map(PersonId::from_uuid),
        credential_id: row.try_get::<Option<Uuid>, _>("credential_id")?.map(CredentialId::from_uuid),
        credential_kind: row.try_get("credential_kind")?,
        direction: row.try_get("direction")?,
        granted: row.try_get("granted")?,
        reason: row.try_get("reason")?,
        door_action: row.try_get("door_action")?,
        rule: row.try_get("rule")?,
        detail: row.try_get("detail")?,
        prev_hash: hash32("prev_hash", row.try_get("prev_hash")?)?,
        hash: hash32("hash", row.try_get("hash")?)?,
    })
}

impl This {
    /// Runs a list query that asked for `limit + 1` rows: the page, and whether more follow.
    async fn log_page(
        &self,
        tenant: TenantId,
        mut query: QueryBuilder<'static, Db>,
        limit: u32,
    ) -> StoreResult<(Vec<LogRecord>, bool)> {
        let mut tx = self.read(tenant).await?;
        let rows = query.build().fetch_all(&mut *tx).await?;
        tx.finish().await?;
        let more = rows.len() > limit as usize;
        let items = rows.iter().take(limit as usize).map(decode_log_record).collect::<StoreResult<Vec<_>>>()?;
        Ok((items, more))
    }
}

#[async_trait]
impl AccessLogStore for This {
    async fn access_log_head(&self, tenant: TenantId) -> StoreResult<ChainHead> {
        let mut tx = self.read(tenant).await?;
        let row = sqlx::query("SELECT seq, hash FROM access_log_heads WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        match row {
            Some(row) => Ok(ChainHead { seq: row.try_get("seq")?, hash: hash32("hash", row.try_get("hash")?)? }),
            None => Ok(ChainHead::EMPTY),
        }
    }

    async fn access_log_append_recorded(
        &self,
        records: &[LogRecord],
        uses: &[CredentialUse],
        messages: &[DeviceMessageKey],
    ) -> StoreResult<()> {
        let batches = by_tenant(records, uses, messages)?;
        if batches.is_empty() {
            return Ok(());
        }
        self.append_log(&batches).await
    }

    async fn access_log_list(
        &self,
        tenant: TenantId,
        filter: &AccessLogFilter,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<LogPage> {
        let mut query = This::log_list_query(tenant, filter, LogOrder::Seq(after_seq));
        query.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit) + 1);
        let (items, more) = self.log_page(tenant, query, limit).await?;
        let next_after_seq = if more { items.last().map(|record| record.seq) } else { None };
        Ok(LogPage { items, next_after_seq })
    }

    async fn access_log_list_reported(
        &self,
        tenant: TenantId,
        filter: &AccessLogFilter,
        after: Option<(chrono::DateTime<chrono::Utc>, i64)>,
        limit: u32,
    ) -> StoreResult<ReportedPage> {
        let mut query = This::log_list_query(tenant, filter, LogOrder::Reported(after));
        query.push(" ORDER BY reported_key, seq LIMIT ").push_bind(i64::from(limit) + 1);
        let (items, more) = self.log_page(tenant, query, limit).await?;
        let next_after =
            if more { items.last().map(|record| (record.reported_at().unwrap_or(record.at), record.seq)) } else { None };
        Ok(ReportedPage { items, next_after })
    }

    async fn access_log_scan(&self, tenant: TenantId, after_seq: i64, limit: u32) -> StoreResult<Vec<LogRecord>> {
        let mut tx = self.read(tenant).await?;
        let sql = format!("SELECT {LOG_COLUMNS} FROM access_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq, id LIMIT $3");
        let rows = sqlx::query(&sql).bind(tenant.as_uuid()).bind(after_seq).bind(i64::from(limit)).fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode_log_record).collect()
    }

    async fn access_log_prepare(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
        self.prepare_log(now).await
    }

    async fn access_log_tenants(&self) -> StoreResult<Vec<TenantId>> {
        // A platform read: on PostgreSQL the heads (not the entries) are
        // readable with no tenant set (policy `platform_read`).
        let mut tx = self.read_platform().await?;
        let rows = sqlx::query("SELECT tenant_id FROM access_log_heads ORDER BY tenant_id").fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(|row| Ok(TenantId::from_uuid(row.try_get("tenant_id")?))).collect()
    }
}
