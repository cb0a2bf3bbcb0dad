use super::identity::insert_role_assignment;
use super::*;

const CUSTOM_ROLE_COLUMNS: &str = "id, tenant_id, name, description, inherits, permissions, created_at, updated_at";

fn decode_custom_role(row: &Row) -> StoreResult<gatehouse_domain::authz::CustomRole> {
    // A code this version no longer knows grants nothing; it is not an error.
    let codes: Json<Vec<String>> = row.try_get("permissions")?;
    let inherits: Option<String> = row.try_get("inherits")?;
    Ok(gatehouse_domain::authz::CustomRole {
        id: RoleId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: stored("name", gatehouse_domain::values::RoleName::parse(&row.try_get::<String, _>("name")?))?,
        description: row.try_get("description")?,
        inherits: inherits
            .map(|name| {
                gatehouse_domain::authz::BuiltinRole::parse(&name)
                    .ok_or_else(|| StoreError::Corrupt(format!("inherits: unknown role '{name}'")))
            })
            .transpose()?,
        permissions: codes.0.iter().filter_map(|code| gatehouse_domain::authz::Permission::parse(code).ok()).collect(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn permission_codes(permissions: &[gatehouse_domain::authz::Permission]) -> Json<Vec<&'static str>> {
    let mut codes: Vec<&'static str> = permissions.iter().map(|p| p.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    Json(codes)
}

async fn custom_role_by_name(
    conn: &mut Conn,
    tenant: TenantId,
    name: &gatehouse_domain::values::RoleName,
) -> StoreResult<gatehouse_domain::authz::CustomRole> {
    let sql = format!("SELECT {CUSTOM_ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND name = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    decode_custom_role(&row)
}

/// Refuses a role that is neither built in nor one of the tenant's own.
pub(super) async fn require_role(
    conn: &mut Conn,
    tenant: TenantId,
    role: &gatehouse_domain::values::RoleName,
    field: &str,
) -> StoreResult<()> {
    if role.builtin().is_some() {
        return Ok(());
    }
    match custom_role_by_name(conn, tenant, role).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(ValidationError::new(
            field,
            format!("no role '{role}' in this tenant (a built-in role, or one created at /api/v1/roles)"),
        )
        .into()),
        Err(err) => Err(err),
    }
}

/// Whether the account belongs to the tenant: it holds a role there (as `account_list` counts them).
async fn account_in_tenant(conn: &mut Conn, tenant: TenantId, account: AccountId) -> StoreResult<bool> {
    let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM role_assignments WHERE account_id = $1 AND tenant_id = $2) AS member")
        .bind(account.as_uuid())
        .bind(tenant.as_uuid())
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<bool, _>("member")?)
}

#[async_trait]
impl RoleStore for This {
    async fn role_list(&self, tenant: TenantId) -> StoreResult<Vec<gatehouse_domain::authz::CustomRole>> {
        let mut tx = self.read(tenant).await?;
        let sql = format!("SELECT {CUSTOM_ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 ORDER BY name");
        let rows = sqlx::query(&sql).bind(tenant.as_uuid()).fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode_custom_role).collect()
    }

    async fn role_get(
        &self,
        tenant: TenantId,
        name: &gatehouse_domain::values::RoleName,
    ) -> StoreResult<gatehouse_domain::authz::CustomRole> {
        let mut tx = self.read(tenant).await?;
        let role = custom_role_by_name(&mut tx, tenant, name).await?;
        tx.finish().await?;
        Ok(role)
    }

    async fn role_create(
        &self,
        tenant: TenantId,
        new: &gatehouse_domain::authz::NewCustomRole,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::authz::CustomRole> {
        let mut tx = self.write(tenant).await?;
        let count: i64 = sqlx::query("SELECT count(*) AS n FROM roles WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if count >= CUSTOM_ROLES_MAX as i64 {
            return Err(
                ValidationError::new("name", format!("a tenant holds at most {CUSTOM_ROLES_MAX} roles of its own")).into()
            );
        }
        let sql = format!(
            "INSERT INTO roles ({CUSTOM_ROLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {CUSTOM_ROLE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(new.description.as_deref())
            .bind(new.inherits.map(|role| role.name()))
            .bind(permission_codes(&new.permissions))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let role = decode_custom_role(&row)?;
        record(&mut tx, Some(tenant), change, "identity.role.create", "role", Some(role.name.to_string()), None, state(&role))
            .await?;
        tx.commit().await?;
        Ok(role)
    }

    async fn role_update(
        &self,
        tenant: TenantId,
        name: &gatehouse_domain::values::RoleName,
        patch: &gatehouse_domain::authz::CustomRolePatch,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::authz::CustomRole> {
        let mut tx = self.write(tenant).await?;
        let before = custom_role_by_name(&mut tx, tenant, name).await?;
        let mut role = before.clone();
        if let Some(description) = &patch.description {
            role.description = description.clone();
        }
        if let Some(inherits) = patch.inherits {
            role.inherits = inherits;
        }
        if let Some(permissions) = &patch.permissions {
            role.permissions = permissions.clone();
        }
        let sql = format!(
            "UPDATE roles SET description = $3, inherits = $4, permissions = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {CUSTOM_ROLE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(role.id.as_uuid())
            .bind(role.description.as_deref())
            .bind(role.inherits.map(|role| role.name()))
            .bind(permission_codes(&role.permissions))
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await?;
        let after = decode_custom_role(&row)?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "identity.role.update",
            "role",
            Some(name.to_string()),
            state(&before),
            state(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn role_delete(
        &self,
        tenant: TenantId,
        name: &gatehouse_domain::values::RoleName,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = custom_role_by_name(&mut tx, tenant, name).await?;
        let in_use = sqlx::query(
            "SELECT (EXISTS (SELECT 1 FROM role_assignments WHERE tenant_id = $1 AND role = $2) \
             OR EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1 AND role = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3))) AS used",
        )
        .bind(tenant.as_uuid())
        .bind(name.as_str())
        .bind(change.at)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<bool, _>("used")?;
        if in_use {
            return Err(StoreError::InUse("the role is still given to accounts or API keys"));
        }
        sqlx::query("DELETE FROM roles WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(before.id.as_uuid())
            .execute(&mut *tx)
            .await?;
        record(&mut tx, Some(tenant), change, "identity.role.delete", "role", Some(name.to_string()), state(&before), None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn role_assignment_add(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: &gatehouse_domain::identity::RoleAssignment,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        if !account_in_tenant(&mut tx, tenant, account).await? {
            return Err(StoreError::NotFound);
        }
        if assignment.tenant_id != Some(tenant) {
            return Err(ValidationError::new("tenant_id", "an assignment is added in the tenant the call is for").into());
        }
        insert_role_assignment(&mut tx, account, assignment, "", change.at).await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "identity.account.update",
            "account",
            Some(account.to_string()),
            None,
            state(assignment),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn role_assignment_remove(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: Uuid,
        change: &ChangeContext,
    ) -> StoreResult<gatehouse_domain::identity::RoleAssignment> {
        let mut tx = self.write(tenant).await?;
        let sql =
            format!("DELETE FROM role_assignments WHERE id = $1 AND account_id = $2 AND tenant_id = $3 RETURNING {ROLE_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(assignment)
            .bind(account.as_uuid())
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let removed = decode::role_assignment(&row)?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "identity.account.update",
            "account",
            Some(account.to_string()),
            state(&removed),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}
