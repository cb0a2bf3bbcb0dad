use super::*;

const CREDENTIALS: Records<Credential> =
    Records::new("credentials", CREDENTIAL_COLUMNS, decode_credential, |r| r.id.as_uuid(), "access.credential");

pub(super) const DENIALS: Records<Denial> =
    Records::new("denials", DENIAL_COLUMNS, decode_denial, |r| r.id.as_uuid(), "access.denial");

pub(super) fn decode_credential(row: &Row) -> StoreResult<Credential> {
    Ok(Credential {
        id: CredentialId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        person_id: PersonId::from_uuid(row.try_get("person_id")?),
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        value: row.try_get("value")?,
        facility_code: u32_column(row, "facility_code")?,
        status: stored("status", text_column(row, "status")?.parse())?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        single_use: row.try_get("single_use")?,
        used_at: row.try_get("used_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn decode_credential_entry(row: &Row) -> StoreResult<CredentialEntry> {
    Ok(CredentialEntry {
        id: CredentialId::from_uuid(row.try_get("id")?),
        person_id: PersonId::from_uuid(row.try_get("person_id")?),
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        lookup_key: text_column(row, "lookup_key")?,
        status: stored("status", text_column(row, "status")?.parse())?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        single_use: row.try_get("single_use")?,
        used: row.try_get::<Option<DateTime<Utc>>, _>("used_at")?.is_some(),
    })
}

/// Refuses a secret kind's value: a PIN, QR token or mobile token is kept only as its lookup key.
pub(super) fn check_credential_input(new: &CredentialInput) -> StoreResult<()> {
    let secret = matches!(new.kind, CredentialKind::Pin | CredentialKind::Qr | CredentialKind::Mobile);
    if secret && new.value.is_some() {
        return Err(ValidationError::new("value", format!("a {} credential's value is never stored", new.kind)).into());
    }
    check_window(new.valid_from, new.valid_until)?;
    Ok(())
}

pub(super) fn decode_denial(row: &Row) -> StoreResult<Denial> {
    Ok(Denial {
        id: DenialId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        person_id: PersonId::from_uuid(row.try_get("person_id")?),
        reason: text_column(row, "reason")?,
        valid_until: row.try_get("valid_until")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) async fn require_person(conn: &mut Conn, tenant: TenantId, field: &str, id: PersonId) -> StoreResult<()> {
    if exists(conn, "people", tenant, id.as_uuid()).await? {
        Ok(())
    } else {
        Err(missing(field.to_owned(), "person", id.as_uuid()))
    }
}

#[async_trait]
impl CredentialStore for This {
    // ---- Credentials ----------------------------------------------

    async fn credential_create(
        &self,
        tenant: TenantId,
        new: &CredentialInput,
        change: &ChangeContext,
    ) -> StoreResult<Credential> {
        check_credential_input(new)?;
        let mut tx = self.write(tenant).await?;
        require_person(&mut tx, tenant, "person_id", new.person_id).await?;
        let sql = format!(
            "INSERT INTO credentials (id, tenant_id, person_id, kind, value, facility_code, lookup_key, status, \
             valid_from, valid_until, single_use, used_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $12) RETURNING {CREDENTIAL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.id.as_uuid())
            .bind(tenant.as_uuid())
            .bind(new.person_id.as_uuid())
            .bind(new.kind.as_str())
            .bind(new.value.as_deref())
            .bind(new.facility_code.map(i64::from))
            .bind(new.lookup_key.as_str())
            .bind(new.status.as_str())
            .bind(new.valid_from)
            .bind(new.valid_until)
            .bind(new.single_use)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "value").on_missing_reference("person_id"))?;
        let credential = decode_credential(&row)?;
        CREDENTIALS.commit_change(tx, tenant, change, "create", None, credential).await
    }

    async fn credential_get(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Credential> {
        self.read_record(&CREDENTIALS, tenant, id.as_uuid()).await
    }

    async fn credential_list(
        &self,
        tenant: TenantId,
        filter: &CredentialFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Credential>> {
        let mut query = CREDENTIALS.select(tenant);
        if let Some(person_id) = filter.person_id {
            query.push(" AND person_id = ").push_bind(person_id.as_uuid());
        }
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        self.read_page(&CREDENTIALS, tenant, query, page).await
    }

    async fn credential_update(
        &self,
        tenant: TenantId,
        id: CredentialId,
        patch: &CredentialPatch,
        change: &ChangeContext,
    ) -> StoreResult<Credential> {
        let mut tx = self.write(tenant).await?;
        let before = CREDENTIALS.get(&mut tx, tenant, id.as_uuid()).await?;
        let patched = before.clone().patched(patch)?;
        let sql = format!(
            "UPDATE credentials SET status = $3, valid_from = $4, valid_until = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {CREDENTIAL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(patched.status.as_str())
            .bind(patched.valid_from)
            .bind(patched.valid_until)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await?;
        let credential = decode_credential(&row)?;
        CREDENTIALS.commit_change(tx, tenant, change, "update", Some(&before), credential).await
    }

    async fn credential_delete(&self, tenant: TenantId, id: CredentialId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = CREDENTIALS.get(&mut tx, tenant, id.as_uuid()).await?;
        if before.status == CredentialStatus::Lost {
            return Err(StoreError::InUse("a lost credential is kept, so that it is never issued again"));
        }
        CREDENTIALS.delete(&mut tx, tenant, &before, "the credential is still referenced", change).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- The deny list --------------------------------------------

    async fn denial_create(&self, tenant: TenantId, new: &NewDenial, change: &ChangeContext) -> StoreResult<Denial> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        require_person(&mut tx, tenant, "person_id", new.person_id).await?;
        let sql = format!("INSERT INTO denials ({DENIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DENIAL_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.person_id.as_uuid())
            .bind(new.reason.as_str())
            .bind(new.valid_until)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::from(err).on_missing_reference("person_id"))?;
        let denial = decode_denial(&row)?;
        DENIALS.commit_change(tx, tenant, change, "create", None, denial).await
    }

    async fn denial_list(&self, tenant: TenantId, person: Option<PersonId>, page: PageRequest) -> StoreResult<Page<Denial>> {
        let mut query = DENIALS.select(tenant);
        if let Some(person) = person {
            query.push(" AND person_id = ").push_bind(person.as_uuid());
        }
        self.read_page(&DENIALS, tenant, query, page).await
    }

    async fn denial_delete(&self, tenant: TenantId, id: DenialId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = DENIALS.get(&mut tx, tenant, id.as_uuid()).await?;
        DENIALS.delete(&mut tx, tenant, &before, "the denial is still referenced", change).await?;
        tx.commit().await?;
        Ok(())
    }
}
