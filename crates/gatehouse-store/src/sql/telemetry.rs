//! Device telemetry: raw samples and their minute and hour rollups, written in
//! one transaction per batch whatever tenants it spans.

use chrono::{DateTime, Utc};
use gatehouse_domain::devices::*;

use super::*;
use crate::devices::*;

/// Samples per multi-row INSERT (5 bound values each).
const SAMPLES_PER_STATEMENT: usize = 1_000;
/// Rollup rows per multi-row upsert (8 bound values each).
const BUCKETS_PER_STATEMENT: usize = 500;
/// A rollup bucket: device, metric and start.
type BucketKey<'a> = (Uuid, &'a str, DateTime<Utc>);
/// A bucket's min, max, sum and count.
type BucketTotals = (f64, f64, f64, i64);
/// Merges the samples into `table`'s buckets of `seconds`.
async fn merge_rollup(
    conn: &mut Conn,
    table: &'static str,
    seconds: i64,
    tenant: TenantId,
    samples: &[&Sample],
) -> StoreResult<()> {
    let mut buckets: std::collections::BTreeMap<BucketKey<'_>, BucketTotals> = Default::default();
    for sample in samples {
        let key = (sample.device.as_uuid(), sample.metric.as_str(), bucket_start(sample.at, seconds));
        let entry = buckets.entry(key).or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0, 0));
        entry.0 = entry.0.min(sample.value);
        entry.1 = entry.1.max(sample.value);
        entry.2 += sample.value;
        entry.3 += 1;
    }
    let rows: Vec<_> = buckets.into_iter().collect();
    for chunk in rows.chunks(BUCKETS_PER_STATEMENT) {
        let mut query =
            QueryBuilder::<Db>::new(format!("INSERT INTO {table} (tenant_id, device_id, metric, bucket, min, max, sum, count) "));
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

#[async_trait]
impl TelemetryStore for This {
    async fn telemetry_append_recorded(&self, samples: &[Sample], messages: &[DeviceMessageKey]) -> StoreResult<()> {
        type Part<'a> = (Vec<&'a Sample>, Vec<&'a DeviceMessageKey>);
        let mut by_tenant: std::collections::BTreeMap<TenantId, Part<'_>> = Default::default();
        for sample in samples {
            by_tenant.entry(sample.tenant).or_default().0.push(sample);
        }
        for message in messages {
            by_tenant.entry(message.tenant).or_default().1.push(message);
        }
        // One transaction for the whole batch, whatever tenants it spans: the
        // writer retries a failed batch whole, so a part committed on its own
        // would have its samples and rollup sums counted again. On PostgreSQL
        // the transaction enters each tenant in turn for row-level security,
        // as an access-log batch does; every statement still names its tenant.
        let Some(first) = by_tenant.keys().next().copied() else { return Ok(()) };
        let mut tx = self.write(first).await?;
        for (tenant, (samples, messages)) in &by_tenant {
            This::enter_tenant(&mut *tx, *tenant).await?;
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
            if !samples.is_empty() {
                merge_rollup(&mut tx, "telemetry_1m", 60, *tenant, samples).await?;
                merge_rollup(&mut tx, "telemetry_1h", 3600, *tenant, samples).await?;
            }
            for keys in messages.chunks(crate::access_log_sql::MESSAGE_KEYS_PER_STATEMENT) {
                let mut query = crate::access_log_sql::insert_message_keys::<Db>(keys);
                query.build().execute(&mut *tx).await.map_err(|err| StoreError::on_unique(err, "message_id"))?;
            }
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
}
