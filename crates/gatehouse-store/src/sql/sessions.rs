use super::*;

async fn session_by_id(conn: &mut Conn, id: SessionId) -> StoreResult<gatehouse_domain::identity::Session> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
    decode::session(&row)
}
#[async_trait]
impl SessionStore for This {
    async fn session_create(&self, session: &gatehouse_domain::identity::Session, refresh_hash: &str) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query(
            "INSERT INTO sessions (id, account_id, tenant_id, refresh_hash, created_at, last_used_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(session.id.as_uuid())
        .bind(session.account_id.as_uuid())
        .bind(session.tenant_id.map(|t| t.as_uuid()))
        .bind(refresh_hash)
        .bind(session.created_at)
        .bind(session.last_used_at)
        .bind(session.expires_at)
        .bind(session.ip.as_deref())
        .bind(session.user_agent.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_get(&self, id: SessionId) -> StoreResult<gatehouse_domain::identity::Session> {
        let mut tx = self.read_platform().await?;
        let session = session_by_id(&mut tx, id).await?;
        tx.finish().await?;
        Ok(session)
    }

    async fn session_list(&self, account: AccountId) -> StoreResult<Vec<gatehouse_domain::identity::Session>> {
        let mut tx = self.read_platform().await?;
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = $1 ORDER BY id DESC LIMIT 500");
        let rows = sqlx::query(&sql).bind(account.as_uuid()).fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode::session).collect()
    }

    async fn session_refresh(&self, presented_hash: &str, next_hash: &str, now: DateTime<Utc>) -> StoreResult<RefreshOutcome> {
        let mut tx = self.write_platform().await?;
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_hash = $1");
        let current = sqlx::query(&sql).bind(presented_hash).fetch_optional(&mut *tx).await?;
        let outcome = match current {
            Some(row) => {
                let mut session = decode::session(&row)?;
                if !session.is_active(now) {
                    RefreshOutcome::Inactive(session.id)
                } else {
                    sqlx::query("UPDATE sessions SET refresh_hash = $2, last_used_at = $3 WHERE id = $1")
                        .bind(session.id.as_uuid())
                        .bind(next_hash)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("INSERT INTO retired_refresh_tokens (refresh_hash, session_id, retired_at) VALUES ($1, $2, $3)")
                        .bind(presented_hash)
                        .bind(session.id.as_uuid())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    session.last_used_at = now;
                    RefreshOutcome::Rotated(session)
                }
            }
            None => {
                let retired = sqlx::query("SELECT session_id FROM retired_refresh_tokens WHERE refresh_hash = $1")
                    .bind(presented_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                match retired {
                    Some(row) => {
                        let session_id: Uuid = row.try_get("session_id")?;
                        sqlx::query(
                            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reused' \
                             WHERE id = $1 AND revoked_at IS NULL",
                        )
                        .bind(session_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        RefreshOutcome::Reused(SessionId::from_uuid(session_id))
                    }
                    None => RefreshOutcome::Unknown,
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn session_revoke(&self, id: SessionId, reason: &str, change: &ChangeContext) -> StoreResult<()> {
        let tenant = {
            let mut tx = self.read_platform().await?;
            let session = session_by_id(&mut tx, id).await?;
            tx.finish().await?;
            session.tenant_id
        };
        let mut tx = match tenant {
            Some(tenant) => self.write(tenant).await?,
            None => self.write_platform().await?,
        };
        let before = session_by_id(&mut tx, id).await?;
        if before.revoked_at.is_none() {
            sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.as_uuid())
                .bind(change.at)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
            let after = session_by_id(&mut tx, id).await?;
            record(
                &mut tx,
                tenant,
                change,
                "identity.session.revoke",
                "session",
                Some(id.to_string()),
                state(&before),
                state(&after),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut tx = self.read_platform().await?;
        let sql = format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC");
        let rows = sqlx::query(&sql).fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode::signing_key).collect()
    }

    async fn signing_key_add(&self, key: &SigningKeyRecord, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL").bind(change.at).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_encrypted, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_key)
        .bind(&key.private_key_encrypted)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        let after = serde_json::json!({ "kid": key.kid, "algorithm": key.algorithm });
        record(&mut tx, None, change, "identity.signing_key.rotate", "signing_key", Some(key.kid.clone()), None, Some(after))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mfa_get(&self, account: AccountId) -> StoreResult<Option<MfaRecord>> {
        let mut tx = self.read_platform().await?;
        let row = sqlx::query("SELECT secret_sealed, confirmed_at, last_used_step FROM account_mfa WHERE account_id = $1")
            .bind(account.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        row.map(|row| {
            Ok(MfaRecord {
                secret_sealed: row.try_get("secret_sealed")?,
                confirmed_at: row.try_get("confirmed_at")?,
                last_used_step: row.try_get("last_used_step")?,
            })
        })
        .transpose()
    }

    async fn mfa_begin(&self, account: AccountId, secret_sealed: &[u8], change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        let confirmed = sqlx::query("SELECT 1 AS one FROM account_mfa WHERE account_id = $1 AND confirmed_at IS NOT NULL")
            .bind(account.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        if confirmed.is_some() {
            return Err(StoreError::Conflict { field: "mfa" });
        }
        sqlx::query("DELETE FROM account_mfa WHERE account_id = $1").bind(account.as_uuid()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO account_mfa (account_id, secret_sealed, confirmed_at, last_used_step, created_at) VALUES ($1, $2, NULL, 0, $3)")
            .bind(account.as_uuid())
            .bind(secret_sealed)
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, None, change, "identity.mfa.enroll", "account", Some(account.to_string()), None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mfa_confirm(
        &self,
        account: AccountId,
        step: i64,
        recovery_hashes: &[String],
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        let done = sqlx::query(
            "UPDATE account_mfa SET confirmed_at = $2, last_used_step = $3 WHERE account_id = $1 AND confirmed_at IS NULL AND last_used_step < $3",
        )
        .bind(account.as_uuid())
        .bind(change.at)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1").bind(account.as_uuid()).execute(&mut *tx).await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash, used_at) VALUES ($1, $2, NULL)")
                .bind(account.as_uuid())
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        record(&mut tx, None, change, "identity.mfa.confirm", "account", Some(account.to_string()), None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mfa_use_step(&self, account: AccountId, step: i64) -> StoreResult<bool> {
        let mut tx = self.write_platform().await?;
        let done = sqlx::query(
            "UPDATE account_mfa SET last_used_step = $2 WHERE account_id = $1 AND confirmed_at IS NOT NULL AND last_used_step < $2",
        )
        .bind(account.as_uuid())
        .bind(step)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mfa_use_recovery_code(&self, account: AccountId, code_hash: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write_platform().await?;
        let done =
            sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL")
                .bind(account.as_uuid())
                .bind(code_hash)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mfa_disable(&self, account: AccountId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1").bind(account.as_uuid()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM account_mfa WHERE account_id = $1").bind(account.as_uuid()).execute(&mut *tx).await?;
        record(&mut tx, None, change, "identity.mfa.disable", "account", Some(account.to_string()), None, None).await?;
        tx.commit().await?;
        Ok(())
    }
}
