use gatehouse_domain::people::*;
use gatehouse_domain::people_csv::ImportContext;

use super::*;

const PEOPLE: Records<Person> = Records::new("people", PERSON_COLUMNS, decode::person, |r| r.id.as_uuid(), "people.person");

async fn insert_people(
    conn: &mut Conn,
    tenant: TenantId,
    people: &[NewPerson],
    now: DateTime<Utc>,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> StoreResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(people.len());
    for chunk in people.chunks(INSERT_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(format!("INSERT INTO people ({PERSON_COLUMNS}) "));
        query.push_values(chunk, |mut row, person| {
            let id = new_id(now);
            ids.push(id);
            row.push_bind(id)
                .push_bind(tenant.as_uuid())
                .push_bind(person.kind.as_str())
                .push_bind(person.first_name.as_str().to_owned())
                .push_bind(person.last_name.as_ref().map(|v| v.as_str().to_owned()))
                .push_bind(person.email.as_ref().map(|v| v.as_str().to_owned()))
                .push_bind(person.phone.as_ref().map(|v| v.as_str().to_owned()))
                .push_bind(person.unit_id.map(|v| v.as_uuid()))
                .push_bind(person.external_id.as_ref().map(|v| v.as_str().to_owned()))
                .push_bind(person.status.unwrap_or(PersonStatus::Active).as_str())
                .push_bind(Json(serde_json::Value::from(person.metadata.clone().unwrap_or_default())))
                .push_bind(now)
                .push_bind(now);
        });
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|err| StoreError::on_unique_among(err, &["email", "external_id"]).on_missing_reference("unit_id"))?;
        progress(ids.len());
    }
    Ok(ids)
}

async fn write_person(conn: &mut Conn, person: &Person) -> StoreResult<()> {
    sqlx::query(
        "UPDATE people SET kind = $3, first_name = $4, last_name = $5, email = $6, phone = $7, \
         unit_id = $8, external_id = $9, status = $10, metadata = $11, updated_at = $12 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(person.tenant_id.as_uuid())
    .bind(person.id.as_uuid())
    .bind(person.kind.as_str())
    .bind(person.first_name.as_str().to_owned())
    .bind(person.last_name.as_ref().map(|v| v.as_str().to_owned()))
    .bind(person.email.as_ref().map(|v| v.as_str().to_owned()))
    .bind(person.phone.as_ref().map(|v| v.as_str().to_owned()))
    .bind(person.unit_id.map(|v| v.as_uuid()))
    .bind(person.external_id.as_ref().map(|v| v.as_str().to_owned()))
    .bind(person.status.as_str())
    .bind(Json(serde_json::Value::from(person.metadata.clone())))
    .bind(person.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|err| StoreError::on_unique_among(err, &["email", "external_id"]).on_missing_reference("unit_id"))?;
    Ok(())
}

#[async_trait]
impl PeopleStore for This {
    async fn person_create(&self, tenant: TenantId, new: &NewPerson, change: &ChangeContext) -> StoreResult<Person> {
        let mut tx = self.write(tenant).await?;
        if let Some(unit_id) = new.unit_id {
            require(&mut tx, "units", "unit_id", tenant, unit_id.as_uuid()).await?;
        }
        let ids = insert_people(&mut tx, tenant, std::slice::from_ref(new), change.at, &|_| {}).await?;
        let id = ids.first().copied().ok_or(StoreError::NotFound)?;
        let person = PEOPLE.get(&mut tx, tenant, id).await?;
        PEOPLE.commit_change(tx, tenant, change, "create", None, person).await
    }

    async fn person_get(&self, tenant: TenantId, id: PersonId) -> StoreResult<Person> {
        self.read_record(&PEOPLE, tenant, id.as_uuid()).await
    }

    async fn person_list(&self, tenant: TenantId, filter: &PersonFilter, page: PageRequest) -> StoreResult<Page<Person>> {
        let mut query = PEOPLE.select(tenant);
        match filter.status {
            Some(status) => query.push(" AND status = ").push_bind(status.as_str()),
            None => query.push(" AND status <> 'archived'"),
        };
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(unit_id) = filter.unit_id {
            query.push(" AND unit_id = ").push_bind(unit_id.as_uuid());
        }
        if let Some(email) = &filter.email {
            query.push(" AND email = ").push_bind(email.to_lowercase());
        }
        if let Some(external_id) = &filter.external_id {
            query.push(" AND external_id = ").push_bind(external_id.clone());
        }
        if let Some(search) = &filter.search {
            let pattern = contains_pattern(search);
            query
                .push(" AND (lower(first_name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(coalesce(last_name, '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR coalesce(email, '') LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        self.read_page(&PEOPLE, tenant, query, page).await
    }

    async fn person_update(
        &self,
        tenant: TenantId,
        id: PersonId,
        patch: &PersonPatch,
        change: &ChangeContext,
    ) -> StoreResult<Person> {
        let mut tx = self.write(tenant).await?;
        let current = PEOPLE.get(&mut tx, tenant, id.as_uuid()).await?;
        if let Some(Some(unit_id)) = patch.unit_id {
            require(&mut tx, "units", "unit_id", tenant, unit_id.as_uuid()).await?;
        }
        let mut person = current.patched(patch.clone());
        let person_action = if person.status == PersonStatus::Archived && current.status != PersonStatus::Archived {
            "people.person.archive"
        } else {
            "people.person.update"
        };
        person.updated_at = change.at;
        write_person(&mut tx, &person).await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            person_action,
            "person",
            Some(person.id.to_string()),
            state(&current),
            state(&person),
        )
        .await?;
        tx.commit().await?;
        Ok(person)
    }

    async fn people_import_context(&self, tenant: TenantId) -> StoreResult<ImportContext> {
        let mut tx = self.read(tenant).await?;
        let units = sqlx::query("SELECT id, name FROM units WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.as_uuid())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| Ok((UnitId::from_uuid(row.try_get("id")?), row.try_get::<String, _>("name")?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut context = ImportContext { units, ..ImportContext::default() };
        let taken = sqlx::query(
            "SELECT email, external_id FROM people WHERE tenant_id = $1 \
             AND (email IS NOT NULL OR external_id IS NOT NULL)",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *tx)
        .await?;
        for row in &taken {
            if let Some(email) = row.try_get::<Option<String>, _>("email")? {
                context.taken_emails.insert(email);
            }
            if let Some(external_id) = row.try_get::<Option<String>, _>("external_id")? {
                context.taken_external_ids.insert(external_id);
            }
        }
        tx.finish().await?;
        Ok(context)
    }

    async fn people_insert_all(
        &self,
        tenant: TenantId,
        people: &[NewPerson],
        change: &ChangeContext,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> StoreResult<usize> {
        let mut tx = self.write(tenant).await?;
        let ids = insert_people(&mut tx, tenant, people, change.at, progress).await?;
        record(
            &mut tx,
            Some(tenant),
            change,
            "people.person.import",
            "person",
            None,
            None,
            Some(serde_json::json!({ "imported": ids.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(ids.len())
    }
}
