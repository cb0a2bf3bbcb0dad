use super::roles::require_role;
use super::*;

const API_KEYS: Records<gatehouse_domain::identity::ApiKey> =
    Records::new("api_keys", API_KEY_COLUMNS, decode::api_key, |r| r.id.as_uuid(), "identity.api_key");

/// The roles of these accounts; with `tenant`, only those in it and platform roles.
pub(super) async fn roles_of(
    conn: &mut Conn,
    accounts: &[Uuid],
    tenant: Option<TenantId>,
) -> StoreResult<Vec<(Uuid, gatehouse_domain::identity::RoleAssignment)>> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Db>::new(format!("SELECT {ROLE_COLUMNS} FROM role_assignments WHERE account_id "));
    push_id_list(&mut query, accounts.iter().copied());
    if let Some(tenant) = tenant {
        query.push(" AND (tenant_id IS NULL OR tenant_id = ").push_bind(tenant.as_uuid()).push(")");
    }
    query.push(" ORDER BY id");
    let rows = query.build().fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok((row.try_get::<Uuid, _>("account_id")?, decode::role_assignment(row)?))).collect()
}

/// `(scope_kind, scope_id)` columns for a scope, after checking its site or zone is in `tenant`.
pub(super) async fn scope_columns(
    conn: &mut Conn,
    tenant: Option<TenantId>,
    scope: gatehouse_domain::authz::Scope,
    field: &str,
) -> StoreResult<(&'static str, Option<Uuid>)> {
    Ok(match scope {
        gatehouse_domain::authz::Scope::Tenant => ("tenant", None),
        gatehouse_domain::authz::Scope::Site(site) => {
            if let Some(tenant) = tenant {
                require(conn, "sites", field, tenant, site.as_uuid()).await?;
            }
            ("site", Some(site.as_uuid()))
        }
        gatehouse_domain::authz::Scope::Zone(zone) => {
            if let Some(tenant) = tenant {
                require(conn, "zones", field, tenant, zone.as_uuid()).await?;
            }
            ("zone", Some(zone.as_uuid()))
        }
    })
}

/// Inserts one role assignment of an account after checking its role and
/// scope exist in its tenant; `prefix` goes before the names of fields in errors.
pub(super) async fn insert_role_assignment(
    conn: &mut Conn,
    account: AccountId,
    role: &gatehouse_domain::identity::RoleAssignment,
    prefix: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let role_field = format!("{prefix}role");
    if let Some(tenant) = role.tenant_id {
        require_role(&mut *conn, tenant, &role.role, &role_field).await?;
    } else if role.role.builtin().is_none() {
        return Err(ValidationError::new(role_field, "a platform assignment takes a built-in role").into());
    }
    let scope_field = match role.scope {
        gatehouse_domain::authz::Scope::Zone(_) => format!("{prefix}scope.zone_id"),
        _ => format!("{prefix}scope.site_id"),
    };
    let (kind, scope_id) = scope_columns(&mut *conn, role.tenant_id, role.scope, &scope_field).await?;
    sqlx::query(
        "INSERT INTO role_assignments (id, account_id, tenant_id, role, scope_kind, scope_id, valid_from, valid_until, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(role.id)
    .bind(account.as_uuid())
    .bind(role.tenant_id.map(|t| t.as_uuid()))
    .bind(role.role.as_str())
    .bind(kind)
    .bind(scope_id)
    .bind(role.valid_from)
    .bind(role.valid_until)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes the account's active sessions (but `keep`), returning their ids.
pub(super) async fn revoke_sessions_of(
    conn: &mut Conn,
    account: AccountId,
    keep: Option<SessionId>,
    reason: &str,
    at: DateTime<Utc>,
) -> StoreResult<Vec<SessionId>> {
    let rows = sqlx::query("SELECT id FROM sessions WHERE account_id = $1 AND revoked_at IS NULL")
        .bind(account.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
    let mut revoked = Vec::new();
    for row in rows {
        let id = SessionId::from_uuid(row.try_get("id")?);
        if Some(id) == keep {
            continue;
        }
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.as_uuid())
            .bind(at)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        revoked.push(id);
    }
    Ok(revoked)
}

pub(super) async fn account_by_id(conn: &mut Conn, id: AccountId) -> StoreResult<gatehouse_domain::identity::Account> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
    let roles = roles_of(conn, &[id.as_uuid()], None).await?.into_iter().map(|(_, role)| role).collect();
    let people = sqlx::query("SELECT tenant_id, person_id FROM account_people WHERE account_id = $1 ORDER BY tenant_id")
        .bind(id.as_uuid())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            Ok(gatehouse_domain::identity::PersonLink {
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                person_id: gatehouse_domain::PersonId::from_uuid(row.try_get("person_id")?),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    decode::account(&row, roles, people)
}

#[async_trait]
impl IdentityStore for This {
    async fn account_create(
        &self,
        tenant: Option<TenantId>,
        account: &AccountRecord,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::identity::Account> {
        let mut tx = match tenant {
            Some(tenant) => self.write(tenant).await?,
            None => self.write_platform().await?,
        };
        let id = AccountId::from_uuid(new_id(change.at));
        sqlx::query(
            "INSERT INTO accounts (id, email, display_name, password_hash, status, password_changed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $5, $5)",
        )
        .bind(id.as_uuid())
        .bind(account.email.as_str())
        .bind(account.display_name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(account.password_hash.as_deref())
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(|err| StoreError::on_unique(err, "email"))?;
        for role in &account.roles {
            if role.tenant_id != tenant {
                return Err(ValidationError::new(
                    "roles.tenant_id",
                    "an account's roles are created in the tenant the call is for",
                )
                .into());
            }
            insert_role_assignment(&mut tx, id, role, "roles.", change.at).await?;
        }
        if let Some(person) = account.person_id {
            let tenant = tenant.ok_or_else(|| ValidationError::new("person_id", "a person belongs to a tenant"))?;
            require(&mut tx, "people", "person_id", tenant, person.as_uuid()).await?;
            sqlx::query("INSERT INTO account_people (account_id, tenant_id, person_id) VALUES ($1, $2, $3)")
                .bind(id.as_uuid())
                .bind(tenant.as_uuid())
                .bind(person.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| StoreError::on_unique_among(err, &["person_id"]))?;
        }
        let created = account_by_id(&mut tx, id).await?;
        record(&mut tx, tenant, change, "identity.account.create", "account", Some(id.to_string()), None, state(&created))
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn account_get(&self, id: AccountId) -> StoreResult<gatehouse_domain::identity::Account> {
        let mut tx = self.read_platform().await?;
        let account = account_by_id(&mut tx, id).await?;
        tx.finish().await?;
        Ok(account)
    }

    async fn account_credentials(&self, email: &str) -> StoreResult<Option<AccountCredentials>> {
        let mut tx = self.read_platform().await?;
        let row = sqlx::query("SELECT id, status, password_hash FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        row.map(|row| {
            Ok(AccountCredentials {
                id: AccountId::from_uuid(row.try_get("id")?),
                status: stored("status", row.try_get::<String, _>("status")?.parse())?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn account_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<gatehouse_domain::identity::Account>> {
        let mut tx = self.read(tenant).await?;
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN (SELECT account_id FROM role_assignments WHERE tenant_id = "
        ));
        query.push_bind(tenant.as_uuid()).push(")");
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&mut *tx).await?;
        let ids: Vec<Uuid> = rows.iter().take(page.limit as usize).map(|row| row.try_get("id")).collect::<Result<_, _>>()?;
        let roles = roles_of(&mut tx, &ids, Some(tenant)).await?;
        let people: Vec<(Uuid, gatehouse_domain::identity::PersonLink)> =
            sqlx::query("SELECT account_id, person_id FROM account_people WHERE tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get::<Uuid, _>("account_id")?,
                        gatehouse_domain::identity::PersonLink {
                            tenant_id: tenant,
                            person_id: gatehouse_domain::PersonId::from_uuid(row.try_get("person_id")?),
                        },
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
        tx.finish().await?;
        paged(
            rows,
            page.limit,
            |row| {
                let id: Uuid = row.try_get("id")?;
                let own = roles.iter().filter(|(account, _)| *account == id).map(|(_, role)| role.clone()).collect();
                let linked = people.iter().filter(|(account, _)| *account == id).map(|(_, link)| *link).collect();
                decode::account(row, own, linked)
            },
            |account| account.id.as_uuid(),
        )
    }

    async fn api_key_create(
        &self,
        tenant: TenantId,
        key: &gatehouse_domain::identity::ApiKey,
        key_hash: &str,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::identity::ApiKey> {
        let mut tx = self.write(tenant).await?;
        let field = match key.scope {
            gatehouse_domain::authz::Scope::Zone(_) => "scope.zone_id",
            _ => "scope.site_id",
        };
        let (kind, scope_id) = scope_columns(&mut tx, Some(tenant), key.scope, field).await?;
        require_role(&mut tx, tenant, &key.role, "role").await?;
        let sql = format!(
            "INSERT INTO api_keys ({API_KEY_COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10) \
             RETURNING {API_KEY_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(key.id.as_uuid())
            .bind(tenant.as_uuid())
            .bind(key.name.as_str())
            .bind(key.role.as_str())
            .bind(kind)
            .bind(scope_id)
            .bind(&key.prefix)
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(key_hash)
            .fetch_one(&mut *tx)
            .await?;
        let created = decode::api_key(&row)?;
        API_KEYS.commit_change(tx, tenant, change, "create", None, created).await
    }

    async fn api_key_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<gatehouse_domain::identity::ApiKey>> {
        let query = API_KEYS.select(tenant);
        self.read_page(&API_KEYS, tenant, query, page).await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<gatehouse_domain::identity::ApiKey>> {
        let mut tx = self.read_platform().await?;
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row = sqlx::query(&sql).bind(key_hash).fetch_optional(&mut *tx).await?;
        tx.finish().await?;
        row.as_ref().map(decode::api_key).transpose()
    }

    async fn api_key_revoke(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::identity::ApiKey> {
        let mut tx = self.write(tenant).await?;
        let before = API_KEYS.get(&mut tx, tenant, id.as_uuid()).await?;
        if before.revoked_at.is_some() {
            tx.commit().await?;
            return Ok(before);
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        let after = API_KEYS.get(&mut tx, tenant, id.as_uuid()).await?;
        API_KEYS.commit_change(tx, tenant, change, "revoke", Some(&before), after).await
    }

    async fn api_key_touch(&self, id: ApiKeyId, at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1").bind(id.as_uuid()).bind(at).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_update(
        &self,
        tenant: Option<TenantId>,
        id: AccountId,
        display_name: Option<Option<Name>>,
        status: Option<gatehouse_domain::identity::AccountStatus>,
        change: &ChangeContext,
    ) -> StoreResult<(gatehouse_domain::identity::Account, Vec<SessionId>)> {
        let mut tx = match tenant {
            Some(tenant) => self.write(tenant).await?,
            None => self.write_platform().await?,
        };
        let before = account_by_id(&mut tx, id).await?;
        let name = display_name.unwrap_or_else(|| before.display_name.clone());
        let status = status.unwrap_or(before.status);
        sqlx::query("UPDATE accounts SET display_name = $2, status = $3, updated_at = $4 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(name.as_ref().map(|n| n.as_str().to_owned()))
            .bind(status.as_str())
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        let revoked = if status == gatehouse_domain::identity::AccountStatus::Disabled {
            revoke_sessions_of(&mut tx, id, None, "account disabled", change.at).await?
        } else {
            Vec::new()
        };
        let after = account_by_id(&mut tx, id).await?;
        record(
            &mut tx,
            tenant,
            change,
            "identity.account.update",
            "account",
            Some(id.to_string()),
            state(&before),
            state(&after),
        )
        .await?;
        tx.commit().await?;
        Ok((after, revoked))
    }

    async fn account_set_password(
        &self,
        id: AccountId,
        password_hash: &str,
        keep_session: Option<SessionId>,
        change: &ChangeContext,
    ) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.write_platform().await?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(password_hash)
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked = revoke_sessions_of(&mut tx, id, keep_session, "password changed", change.at).await?;
        let details = serde_json::json!({ "sessions_ended": revoked.len() });
        record(&mut tx, None, change, "identity.account.password", "account", Some(id.to_string()), None, Some(details)).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn password_reset_create(
        &self,
        account: AccountId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let mut tx = self.write_platform().await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(token_hash)
        .bind(account.as_uuid())
        .bind(change.at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "expires_at": expires_at });
        record(
            &mut tx,
            None,
            change,
            "identity.account.password_reset",
            "account",
            Some(account.to_string()),
            None,
            Some(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_reset_use(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<AccountId>> {
        let mut tx = self.write_platform().await?;
        let row = sqlx::query("SELECT account_id, expires_at, used_at FROM password_resets WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let account = match row {
            Some(row) => {
                let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
                let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
                if used_at.is_some() || expires_at <= now {
                    None
                } else {
                    let done = sqlx::query("UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                        .bind(token_hash)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    (done.rows_affected() == 1)
                        .then(|| row.try_get::<Uuid, _>("account_id"))
                        .transpose()?
                        .map(AccountId::from_uuid)
                }
            }
            None => None,
        };
        tx.commit().await?;
        Ok(account)
    }
}
