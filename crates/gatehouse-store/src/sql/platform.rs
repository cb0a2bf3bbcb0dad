use super::*;

#[async_trait]
impl PlatformStore for This {
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut tx = self.read_platform().await?;
        sqlx::query("SELECT 1").execute(&mut *tx).await?;
        tx.finish().await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        self.unapplied_migrations().await
    }

    async fn migrate(&self) -> StoreResult<usize> {
        self.apply_migrations().await
    }

    fn pool_stats(&self) -> PoolStats {
        self.connection_stats()
    }

    async fn close(&self) {
        self.close_pools().await
    }

    async fn setting_get(&self, key: &str) -> StoreResult<Option<String>> {
        let mut tx = self.read_platform().await?;
        let row = sqlx::query("SELECT value FROM platform_settings WHERE key = $1").bind(key).fetch_optional(&mut *tx).await?;
        tx.finish().await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    async fn setting_put(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<()> {
        self.write_setting(key, value, change, "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at").await?;
        Ok(())
    }

    async fn setting_insert(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<bool> {
        self.write_setting(key, value, change, "DO NOTHING").await
    }

    async fn audit_record(
        &self,
        tenant: Option<TenantId>,
        change: &ChangeContext,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        details: Option<serde_json::Value>,
    ) -> StoreResult<()> {
        let mut tx = match tenant {
            Some(tenant) => self.write(tenant).await?,
            None => self.write_platform().await?,
        };
        record(&mut tx, tenant, change, action, target_type, target_id, None, details).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_list(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<gatehouse_domain::audit::AuditEntry>> {
        let mut tx = match tenant {
            Some(tenant) => self.read(tenant).await?,
            None => self.read_platform().await?,
        };
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE "));
        match tenant {
            Some(tenant) => query.push("tenant_id = ").push_bind(tenant.as_uuid()),
            None => query.push("tenant_id IS NULL"),
        };
        if let Some(action) = &filter.action {
            query.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(target_type) = &filter.target_type {
            query.push(" AND target_type = ").push_bind(target_type.clone());
        }
        if let Some(target_id) = &filter.target_id {
            query.push(" AND target_id = ").push_bind(target_id.clone());
        }
        if let Some(actor_id) = filter.actor_id {
            query.push(" AND actor_id = ").push_bind(actor_id);
        }
        if let Some(request_id) = &filter.request_id {
            query.push(" AND request_id = ").push_bind(request_id.clone());
        }
        if let Some(from) = filter.from {
            query.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            query.push(" AND at < ").push_bind(to);
        }
        // Newest first: the cursor walks backwards through the ids.
        if let Some(after) = page.after {
            query.push(" AND id < ").push_bind(after);
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&mut *tx).await?;
        tx.finish().await?;
        paged(rows, page.limit, decode::audit_entry, |entry| entry.id)
    }

    async fn idempotency_claim(&self, claim: &IdempotencyClaim, now: DateTime<Utc>) -> StoreResult<IdempotencyOutcome> {
        let mut tx = self.write_platform().await?;
        let existing = sqlx::query(
            "SELECT fingerprint, status, content_type, body, created_at FROM idempotency_keys \
             WHERE scope = $1 AND key = $2",
        )
        .bind(&claim.scope)
        .bind(&claim.key)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match existing {
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (scope, key) DO NOTHING",
                )
                .bind(&claim.scope)
                .bind(&claim.key)
                .bind(&claim.fingerprint)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 1 {
                    IdempotencyOutcome::Claimed
                } else {
                    IdempotencyOutcome::InProgress
                }
            }
            Some(row) => {
                let fingerprint: String = row.try_get("fingerprint")?;
                let status: Option<i32> = row.try_get("status")?;
                let created_at: DateTime<Utc> = row.try_get("created_at")?;
                if fingerprint != claim.fingerprint {
                    IdempotencyOutcome::Mismatch
                } else if let Some(status) = status {
                    IdempotencyOutcome::Replay(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        content_type: row.try_get::<Option<String>, _>("content_type")?.unwrap_or_default(),
                        body: row.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default(),
                    })
                } else if created_at < claim.stale_before {
                    // Only one retry may take over an abandoned claim.
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET created_at = $3 \
                         WHERE scope = $1 AND key = $2 AND status IS NULL AND created_at = $4",
                    )
                    .bind(&claim.scope)
                    .bind(&claim.key)
                    .bind(now)
                    .bind(created_at)
                    .execute(&mut *tx)
                    .await?;
                    if taken.rows_affected() == 1 {
                        IdempotencyOutcome::Claimed
                    } else {
                        IdempotencyOutcome::InProgress
                    }
                } else {
                    IdempotencyOutcome::InProgress
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        claimed_at: DateTime<Utc>,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5 \
             WHERE scope = $1 AND key = $2 AND created_at = $6 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .bind(i32::from(response.status))
        .bind(&response.content_type)
        .bind(&response.body)
        .bind(claimed_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn idempotency_release(&self, scope: &str, key: &str, claimed_at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at = $3 AND status IS NULL")
            .bind(scope)
            .bind(key)
            .bind(claimed_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn idempotency_purge(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write_platform().await?;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

impl This {
    /// Writes a setting, `on_conflict` deciding what an existing value becomes; true
    /// if a row was written.
    async fn write_setting(&self, key: &str, value: &str, change: &ChangeContext, on_conflict: &str) -> StoreResult<bool> {
        let mut tx = self.write_platform().await?;
        let sql =
            format!("INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) {on_conflict}");
        let written = sqlx::query(&sql).bind(key).bind(value).bind(change.at).execute(&mut *tx).await?;
        record(&mut tx, None, change, "platform.setting.update", "setting", Some(key.to_owned()), None, None).await?;
        tx.commit().await?;
        Ok(written.rows_affected() == 1)
    }
}
