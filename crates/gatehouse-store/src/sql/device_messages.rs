//! The ids devices give their messages, recorded by the telemetry and access-log
//! appends in their own transactions; read here to collapse duplicates, and purged
//! after the dedup window.

use super::*;

/// Message ids per `IN (…)` list of one look-up.
const IDS_PER_LOOKUP: usize = 500;

#[async_trait]
impl DeviceMessageStore for This {
    async fn device_messages_seen(&self, keys: &[DeviceMessageKey]) -> StoreResult<Vec<bool>> {
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<usize>> = Default::default();
        for (at, key) in keys.iter().enumerate() {
            by_tenant.entry(key.tenant).or_default().push(at);
        }
        let mut seen = vec![false; keys.len()];
        for (tenant, positions) in by_tenant {
            let mut tx = self.read(tenant).await?;
            let mut recorded = std::collections::HashSet::new();
            for chunk in positions.chunks(IDS_PER_LOOKUP) {
                let mut query =
                    QueryBuilder::<Db>::new("SELECT device_id, message_id FROM device_message_ids WHERE tenant_id = ");
                query.push_bind(tenant.as_uuid()).push(" AND message_id IN (");
                let mut ids = query.separated(", ");
                for at in chunk {
                    ids.push_bind(keys[*at].message_id.clone());
                }
                query.push(")");
                for row in query.build().fetch_all(&mut *tx).await? {
                    let device: Uuid = row.try_get("device_id")?;
                    let id: String = row.try_get("message_id")?;
                    recorded.insert((device, id));
                }
            }
            tx.finish().await?;
            for at in positions {
                let key = &keys[at];
                seen[at] = recorded.contains(&(key.device.as_uuid(), key.message_id.clone()));
            }
        }
        Ok(seen)
    }

    async fn device_messages_purge(&self, tenant: TenantId, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write(tenant).await?;
        let deleted = sqlx::query("DELETE FROM device_message_ids WHERE tenant_id = $1 AND recorded_at < $2")
            .bind(tenant.as_uuid())
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }
}
