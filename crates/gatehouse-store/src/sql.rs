//! The SQL of every [`crate::Store`] method, written once and compiled against each
//! backend's driver by [`sql_store!`].
//!
//! The text is the common subset of SQLite and PostgreSQL: `$N` placeholders
//! (sqlx's SQLite driver maps `$N` to the N-th argument), `RETURNING`, recursive
//! CTEs, `lower()` and `LIKE ... ESCAPE`. The backend supplies four methods that
//! open transactions — `read`/`write` scoped to a tenant, `read_platform`/
//! `write_platform` for platform tables — which is where PostgreSQL sets the
//! tenant for row-level security; the SQL itself always filters by `tenant_id` too.

/// Implements [`crate::Store`] for `$store`, whose driver is `$db` with rows of type `$row`.
macro_rules! sql_store {
    ($store:ty, $db:ty, $row:ty) => {
        mod decode {
            use chrono::{DateTime, Utc};
            use gatehouse_domain::people::{Metadata, Person};
            use gatehouse_domain::tenancy::*;
            use gatehouse_domain::values::*;
            use gatehouse_domain::*;
            use sqlx::types::Json;
            use sqlx::Row;
            use uuid::Uuid;

            use crate::rows::{stored, stored_opt};
            use crate::StoreError;

            type R = $row;

            fn text(row: &R, column: &'static str) -> Result<String, StoreError> {
                Ok(row.try_get::<String, _>(column)?)
            }
            fn time(row: &R, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
                Ok(row.try_get::<DateTime<Utc>, _>(column)?)
            }
            fn uuid(row: &R, column: &'static str) -> Result<Uuid, StoreError> {
                Ok(row.try_get::<Uuid, _>(column)?)
            }

            pub fn tenant(row: &R) -> Result<Tenant, StoreError> {
                Ok(Tenant {
                    id: TenantId::from_uuid(uuid(row, "id")?),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    slug: stored("slug", Slug::parse(&text(row, "slug")?))?,
                    status: stored("status", text(row, "status")?.parse())?,
                    mfa_required_roles: row
                        .try_get::<Json<Vec<gatehouse_domain::authz::BuiltinRole>>, _>("mfa_required_roles")
                        .map_err(|err| StoreError::Corrupt(format!("mfa_required_roles: {err}")))?
                        .0,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn site(row: &R) -> Result<Site, StoreError> {
                Ok(Site {
                    id: SiteId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    time_zone: stored("time_zone", TimeZone::parse(&text(row, "time_zone")?))?,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn zone(row: &R) -> Result<Zone, StoreError> {
                Ok(Zone {
                    id: ZoneId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    site_id: SiteId::from_uuid(uuid(row, "site_id")?),
                    parent_id: row.try_get::<Option<Uuid>, _>("parent_id")?.map(ZoneId::from_uuid),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    kind: stored("kind", text(row, "kind")?.parse())?,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn unit(row: &R) -> Result<Unit, StoreError> {
                Ok(Unit {
                    id: UnitId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    zone_id: ZoneId::from_uuid(uuid(row, "zone_id")?),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn access_point(row: &R) -> Result<AccessPoint, StoreError> {
                Ok(AccessPoint {
                    id: AccessPointId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    zone_id: ZoneId::from_uuid(uuid(row, "zone_id")?),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    kind: stored("kind", text(row, "kind")?.parse())?,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn audit_entry(row: &R) -> Result<gatehouse_domain::audit::AuditEntry, StoreError> {
                Ok(gatehouse_domain::audit::AuditEntry {
                    id: uuid(row, "id")?,
                    tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
                    at: time(row, "at")?,
                    actor: gatehouse_domain::audit::Actor {
                        kind: text(row, "actor_kind")?,
                        id: row.try_get("actor_id")?,
                        label: text(row, "actor_label")?,
                    },
                    action: text(row, "action")?,
                    target_type: text(row, "target_type")?,
                    target_id: row.try_get("target_id")?,
                    before: row.try_get::<Option<Json<serde_json::Value>>, _>("before_state")?.map(|json| json.0),
                    after: row.try_get::<Option<Json<serde_json::Value>>, _>("after_state")?.map(|json| json.0),
                    request_id: row.try_get("request_id")?,
                    source: row.try_get("source")?,
                })
            }

            pub fn role_assignment(row: &R) -> Result<gatehouse_domain::identity::RoleAssignment, StoreError> {
                let role: String = text(row, "role")?;
                let scope = scope(row)?;
                Ok(gatehouse_domain::identity::RoleAssignment {
                    id: uuid(row, "id")?,
                    role: stored("role", RoleName::parse(&role))?,
                    tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
                    scope,
                    valid_from: row.try_get("valid_from")?,
                    valid_until: row.try_get("valid_until")?,
                })
            }

            pub fn account(
                row: &R,
                roles: Vec<gatehouse_domain::identity::RoleAssignment>,
                people: Vec<gatehouse_domain::identity::PersonLink>,
            ) -> Result<gatehouse_domain::identity::Account, StoreError> {
                Ok(gatehouse_domain::identity::Account {
                    id: AccountId::from_uuid(uuid(row, "id")?),
                    email: stored("email", Email::parse(&text(row, "email")?))?,
                    display_name: stored_opt("display_name", row.try_get("display_name")?, Name::parse)?,
                    status: stored("status", text(row, "status")?.parse())?,
                    roles,
                    people,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }

            pub fn session(row: &R) -> Result<gatehouse_domain::identity::Session, StoreError> {
                Ok(gatehouse_domain::identity::Session {
                    id: SessionId::from_uuid(uuid(row, "id")?),
                    account_id: AccountId::from_uuid(uuid(row, "account_id")?),
                    tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
                    created_at: time(row, "created_at")?,
                    last_used_at: time(row, "last_used_at")?,
                    expires_at: time(row, "expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    ip: row.try_get("ip")?,
                    user_agent: row.try_get("user_agent")?,
                })
            }

            pub fn signing_key(row: &R) -> Result<crate::SigningKeyRecord, StoreError> {
                Ok(crate::SigningKeyRecord {
                    kid: text(row, "kid")?,
                    algorithm: text(row, "algorithm")?,
                    public_key: row.try_get("public_key")?,
                    private_key_encrypted: row.try_get("private_key_encrypted")?,
                    created_at: time(row, "created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            }

            fn scope(row: &R) -> Result<gatehouse_domain::authz::Scope, StoreError> {
                let scope_id: Option<Uuid> = row.try_get("scope_id")?;
                Ok(match (text(row, "scope_kind")?.as_str(), scope_id) {
                    ("tenant", None) => gatehouse_domain::authz::Scope::Tenant,
                    ("site", Some(id)) => gatehouse_domain::authz::Scope::Site(SiteId::from_uuid(id)),
                    ("zone", Some(id)) => gatehouse_domain::authz::Scope::Zone(ZoneId::from_uuid(id)),
                    (kind, _) => return Err(StoreError::Corrupt(format!("scope_kind: '{kind}' with scope_id {scope_id:?}"))),
                })
            }

            pub fn api_key(row: &R) -> Result<gatehouse_domain::identity::ApiKey, StoreError> {
                let role: String = text(row, "role")?;
                Ok(gatehouse_domain::identity::ApiKey {
                    id: ApiKeyId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    name: stored("name", Name::parse(&text(row, "name")?))?,
                    role: stored("role", RoleName::parse(&role))?,
                    scope: scope(row)?,
                    prefix: text(row, "prefix")?,
                    created_at: time(row, "created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            }

            pub fn person(row: &R) -> Result<Person, StoreError> {
                let metadata: Json<serde_json::Value> = row.try_get("metadata")?;
                Ok(Person {
                    id: PersonId::from_uuid(uuid(row, "id")?),
                    tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
                    kind: stored("kind", text(row, "kind")?.parse())?,
                    first_name: stored("first_name", Name::parse(&text(row, "first_name")?))?,
                    last_name: stored_opt("last_name", row.try_get("last_name")?, Name::parse)?,
                    email: stored_opt("email", row.try_get("email")?, Email::parse)?,
                    phone: stored_opt("phone", row.try_get("phone")?, Phone::parse)?,
                    unit_id: row.try_get::<Option<Uuid>, _>("unit_id")?.map(UnitId::from_uuid),
                    external_id: stored_opt("external_id", row.try_get("external_id")?, ExternalId::parse)?,
                    status: stored("status", text(row, "status")?.parse())?,
                    metadata: stored("metadata", Metadata::try_from(metadata.0))?,
                    created_at: time(row, "created_at")?,
                    updated_at: time(row, "updated_at")?,
                })
            }
        }

        mod store_impl {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use gatehouse_domain::audit::ChangeContext;
            use gatehouse_domain::people::*;
            use gatehouse_domain::values::Name;
            use gatehouse_domain::{AccountId, ApiKeyId, SessionId};
            use gatehouse_domain::people_csv::ImportContext;
            use gatehouse_domain::tenancy::*;
            use gatehouse_domain::zone_tree::{self, ZoneLink};
            use gatehouse_domain::*;
            use sqlx::types::Json;
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::decode;
            use crate::rows::*;
            use crate::sql::Finish as _;
            use crate::*;

            type Db = $db;
            type Conn = <Db as sqlx::Database>::Connection;

            /// Turns fetched rows (one more than the page asked for) into a page.
            fn paged<T>(
                rows: Vec<$row>,
                limit: u32,
                decode: impl Fn(&$row) -> StoreResult<T>,
                id_of: impl Fn(&T) -> Uuid,
            ) -> StoreResult<Page<T>> {
                let more = rows.len() > limit as usize;
                let items = rows.iter().take(limit as usize).map(decode).collect::<StoreResult<Vec<T>>>()?;
                let next_after = if more { items.last().map(id_of) } else { None };
                Ok(Page { items, next_after })
            }

            fn push_page(query: &mut QueryBuilder<'_, Db>, page: PageRequest) {
                if let Some(after) = page.after {
                    query.push(" AND id > ").push_bind(after);
                }
                query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
            }

            /// `AND column IN (ids…)`; an empty list matches nothing.
            fn push_within(query: &mut QueryBuilder<'_, Db>, column: &'static str, ids: Option<impl Iterator<Item = Uuid>>) {
                let Some(ids) = ids else { return };
                let mut ids = ids.peekable();
                if ids.peek().is_none() {
                    query.push(" AND 1 = 0");
                    return;
                }
                query.push(format!(" AND {column} "));
                push_id_list(query, ids);
            }

            /// `IN (id, id, …)` with every id bound; the caller makes sure there is at least one.
            fn push_id_list(query: &mut QueryBuilder<'_, Db>, ids: impl IntoIterator<Item = Uuid>) {
                query.push("IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                query.push(")");
            }

            fn push_name_contains(query: &mut QueryBuilder<'_, Db>, needle: &Option<String>) {
                if let Some(needle) = needle {
                    query.push(" AND lower(name) LIKE ").push_bind(contains_pattern(needle)).push(" ESCAPE '\\'");
                }
            }

            /// The row of `table` with this id in this tenant, or [`StoreError::NotFound`].
            async fn fetch_by_id<T>(
                conn: &mut Conn,
                table: &'static str,
                columns: &'static str,
                tenant: TenantId,
                id: Uuid,
                decode: impl Fn(&$row) -> StoreResult<T>,
            ) -> StoreResult<T> {
                let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2");
                let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(id).fetch_optional(&mut *conn).await?;
                row.as_ref().map(decode).transpose()?.ok_or(StoreError::NotFound)
            }

            /// `SELECT columns FROM table WHERE tenant_id = <tenant>`, for filters to extend.
            fn select_in_tenant(table: &'static str, columns: &'static str, tenant: TenantId) -> QueryBuilder<'static, Db> {
                let mut query = QueryBuilder::<Db>::new(format!("SELECT {columns} FROM {table} WHERE tenant_id = "));
                query.push_bind(tenant.as_uuid());
                query
            }

            /// Runs a list query one page at a time, in id order.
            async fn fetch_page<T>(
                conn: &mut Conn,
                mut query: QueryBuilder<'static, Db>,
                page: PageRequest,
                decode: impl Fn(&$row) -> StoreResult<T>,
                id_of: impl Fn(&T) -> Uuid,
            ) -> StoreResult<Page<T>> {
                push_page(&mut query, page);
                let rows = query.build().fetch_all(&mut *conn).await?;
                paged(rows, page.limit, decode, id_of)
            }

            async fn exists(conn: &mut Conn, table: &'static str, tenant: TenantId, id: Uuid) -> StoreResult<bool> {
                let sql = format!("SELECT 1 AS one FROM {table} WHERE tenant_id = $1 AND id = $2");
                Ok(sqlx::query(&sql).bind(tenant.as_uuid()).bind(id).fetch_optional(&mut *conn).await?.is_some())
            }

            async fn require(
                conn: &mut Conn,
                table: &'static str,
                field: &str,
                tenant: TenantId,
                id: Uuid,
            ) -> StoreResult<()> {
                if exists(conn, table, tenant, id).await? {
                    Ok(())
                } else {
                    let what = table.trim_end_matches('s').replace('_', " ");
                    Err(ValidationError::new(field, format!("no {what} {id} in this tenant")).into())
                }
            }

            /// The zone `id` and its ancestors, nearest first; empty if `id` doesn't exist.
            async fn zone_path(conn: &mut Conn, tenant: TenantId, id: ZoneId) -> StoreResult<Vec<ZoneLink>> {
                let rows = sqlx::query(
                    "WITH RECURSIVE path(id, site_id, parent_id, depth) AS ( \
                         SELECT id, site_id, parent_id, 0 FROM zones WHERE tenant_id = $1 AND id = $2 \
                         UNION ALL \
                         SELECT z.id, z.site_id, z.parent_id, p.depth + 1 FROM zones z \
                         JOIN path p ON z.id = p.parent_id AND z.tenant_id = $1 WHERE p.depth < $3 \
                     ) SELECT id, site_id FROM path ORDER BY depth",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind((zone_tree::ZONE_DEPTH_MAX * 2) as i64)
                .fetch_all(&mut *conn)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(ZoneLink {
                            id: ZoneId::from_uuid(row.try_get("id")?),
                            site_id: SiteId::from_uuid(row.try_get("site_id")?),
                        })
                    })
                    .collect()
            }

            /// How many levels the subtree under `id` spans, counting `id` itself.
            async fn zone_subtree_levels(conn: &mut Conn, tenant: TenantId, id: ZoneId) -> StoreResult<usize> {
                let row = sqlx::query(
                    "WITH RECURSIVE sub(id, level) AS ( \
                         SELECT id, 1 FROM zones WHERE tenant_id = $1 AND id = $2 \
                         UNION ALL \
                         SELECT z.id, s.level + 1 FROM zones z \
                         JOIN sub s ON z.parent_id = s.id AND z.tenant_id = $1 WHERE s.level < $3 \
                     ) SELECT CAST(coalesce(max(level), 0) AS BIGINT) AS levels FROM sub",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind((zone_tree::ZONE_DEPTH_MAX * 2) as i64)
                .fetch_one(&mut *conn)
                .await?;
                Ok(usize::try_from(row.try_get::<i64, _>("levels")?).unwrap_or(usize::MAX))
            }

            async fn check_zone_parent(
                conn: &mut Conn,
                tenant: TenantId,
                zone: Option<ZoneId>,
                site_id: SiteId,
                parent_id: ZoneId,
            ) -> StoreResult<()> {
                let path = zone_path(conn, tenant, parent_id).await?;
                if path.is_empty() {
                    return Err(ValidationError::new("parent_id", format!("no zone {parent_id} in this tenant")).into());
                }
                let levels = match zone {
                    Some(zone) => zone_subtree_levels(conn, tenant, zone).await?,
                    None => 1,
                };
                zone_tree::check_parent(zone, site_id, &path, levels)?;
                Ok(())
            }

            /// The JSON form of a record for the audit trail.
            fn state<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
                serde_json::to_value(value).ok()
            }

            /// Appends an audit entry; called inside the transaction of the change it describes.
            #[allow(clippy::too_many_arguments)]
            async fn record(
                conn: &mut Conn,
                tenant: Option<TenantId>,
                change: &ChangeContext,
                action: &str,
                target_type: &str,
                target_id: Option<String>,
                before: Option<serde_json::Value>,
                after: Option<serde_json::Value>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_log (id, tenant_id, at, actor_kind, actor_id, actor_label, action, target_type, \
                     target_id, before_state, after_state, request_id, source) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(Uuid::now_v7())
                .bind(tenant.map(|t| t.as_uuid()))
                .bind(change.at)
                .bind(&change.actor.kind)
                .bind(change.actor.id)
                .bind(&change.actor.label)
                .bind(action)
                .bind(target_type)
                .bind(target_id)
                .bind(before.map(Json))
                .bind(after.map(Json))
                .bind(&change.request_id)
                .bind(&change.source)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Deletes one row of a tenant, recording what it was.
            #[allow(clippy::too_many_arguments)]
            async fn delete_row<T: serde::Serialize>(
                mut tx: sqlx::Transaction<'static, Db>,
                table: &'static str,
                columns: &'static str,
                target_type: &'static str,
                tenant: TenantId,
                id: Uuid,
                in_use: &'static str,
                decode: impl Fn(&$row) -> StoreResult<T>,
                change: &ChangeContext,
            ) -> StoreResult<()> {
                let before = fetch_by_id(&mut *tx, table, columns, tenant, id, decode).await?;
                let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
                sqlx::query(&sql)
                    .bind(tenant.as_uuid())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::on_referenced(err, in_use))?;
                let action = format!("{}.delete", action_prefix(target_type));
                record(&mut *tx, Some(tenant), change, &action, target_type, Some(id.to_string()), state(&before), None).await?;
                tx.commit().await?;
                Ok(())
            }

            /// `module.resource` of a target type, so audit actions read like permission codes.
            fn action_prefix(target_type: &str) -> &'static str {
                match target_type {
                    "site" => "tenancy.site",
                    "zone" => "tenancy.zone",
                    "unit" => "tenancy.unit",
                    "access_point" => "tenancy.access_point",
                    "person" => "people.person",
                    "tenant" => "platform.tenant",
                    _ => "platform.setting",
                }
            }

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
                        let id = Uuid::now_v7();
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
                    query.build().execute(&mut *conn).await.map_err(|err| {
                        StoreError::on_unique_among(err, &["email", "external_id"]).on_missing_reference("unit_id")
                    })?;
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

            /// The roles of these accounts; with `tenant`, only those in it and platform roles.
            async fn roles_of(
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
            async fn scope_columns(
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
            async fn insert_role_assignment(
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
            async fn revoke_sessions_of(
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

            async fn account_by_id(conn: &mut Conn, id: AccountId) -> StoreResult<gatehouse_domain::identity::Account> {
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

            async fn session_by_id(conn: &mut Conn, id: SessionId) -> StoreResult<gatehouse_domain::identity::Session> {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
                let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
                decode::session(&row)
            }

            crate::roles_sql::role_store_impl!($store, $db, $row);
            crate::access_sql::access_store_impl!($store, $db, $row);
            crate::access_log_sql::access_log_store_impl!($store, $db, $row);
            crate::device_sql::device_store_impl!($store, $db, $row);

            #[async_trait]
            impl Store for $store {
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
                    self.pending_migrations_impl().await
                }

                async fn migrate(&self) -> StoreResult<usize> {
                    self.migrate_impl().await
                }

                fn pool_stats(&self) -> PoolStats {
                    self.pool_stats_impl()
                }

                async fn close(&self) {
                    self.close_impl().await
                }

                async fn setting_get(&self, key: &str) -> StoreResult<Option<String>> {
                    let mut tx = self.read_platform().await?;
                    let row = sqlx::query("SELECT value FROM platform_settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.finish().await?;
                    Ok(row.map(|row| row.try_get("value")).transpose()?)
                }

                async fn setting_put(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write_platform().await?;
                    sqlx::query(
                        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(key)
                    .bind(value)
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await?;
                    record(&mut *tx, None, change, "platform.setting.update", "setting", Some(key.to_owned()), None, None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn setting_insert(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<bool> {
                    let mut tx = self.write_platform().await?;
                    let inserted = sqlx::query(
                        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(key)
                    .bind(value)
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await?;
                    record(&mut *tx, None, change, "platform.setting.update", "setting", Some(key.to_owned()), None, None).await?;
                    tx.commit().await?;
                    Ok(inserted.rows_affected() == 1)
                }

                async fn tenant_create(&self, new: &NewTenant, change: &ChangeContext) -> StoreResult<Tenant> {
                    let mut tx = self.write_platform().await?;
                    let sql = format!(
                        "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $6, $5, $5) RETURNING {TENANT_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(new.name.as_str())
                        .bind(new.slug.as_str())
                        .bind(TenantStatus::Active.as_str())
                        .bind(change.at)
                        .bind(Json(Vec::<gatehouse_domain::authz::BuiltinRole>::new()))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "slug"))?;
                    let tenant = decode::tenant(&row)?;
                    record(&mut *tx, None, change, "platform.tenant.create", "tenant", Some(tenant.id.to_string()), None, state(&tenant)).await?;
                    tx.commit().await?;
                    Ok(tenant)
                }

                async fn tenant_get(&self, id: TenantId) -> StoreResult<Tenant> {
                    let mut tx = self.read_platform().await?;
                    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *tx).await?;
                    tx.finish().await?;
                    row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)
                }

                async fn tenant_get_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
                    let mut tx = self.read_platform().await?;
                    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1");
                    let row = sqlx::query(&sql).bind(slug).fetch_optional(&mut *tx).await?;
                    tx.finish().await?;
                    row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)
                }

                async fn tenant_list(&self, filter: &TenantFilter, page: PageRequest) -> StoreResult<Page<Tenant>> {
                    let mut tx = self.read_platform().await?;
                    let mut query = QueryBuilder::<Db>::new(format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE 1 = 1"));
                    if let Some(status) = filter.status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    let found = fetch_page(&mut *tx, query, page, decode::tenant, |t| t.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn tenant_update(&self, id: TenantId, patch: &TenantPatch, change: &ChangeContext) -> StoreResult<Tenant> {
                    let mut tx = self.write_platform().await?;
                    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *tx).await?;
                    let mut tenant = row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)?;
                    let before = state(&tenant);
                    if let Some(name) = &patch.name {
                        tenant.name = name.clone();
                    }
                    if let Some(status) = patch.status {
                        tenant.status = status;
                    }
                    if let Some(roles) = &patch.mfa_required_roles {
                        tenant.mfa_required_roles = roles.clone();
                    }
                    tenant.updated_at = change.at;
                    sqlx::query("UPDATE tenants SET name = $2, status = $3, updated_at = $4, mfa_required_roles = $5 WHERE id = $1")
                        .bind(id.as_uuid())
                        .bind(tenant.name.as_str())
                        .bind(tenant.status.as_str())
                        .bind(change.at)
                        .bind(Json(tenant.mfa_required_roles.clone()))
                        .execute(&mut *tx)
                        .await?;
                    record(&mut *tx, None, change, "platform.tenant.update", "tenant", Some(tenant.id.to_string()), before, state(&tenant)).await?;
                    tx.commit().await?;
                    Ok(tenant)
                }

                async fn site_create(&self, tenant: TenantId, new: &NewSite, change: &ChangeContext) -> StoreResult<Site> {
                    let mut tx = self.write(tenant).await?;
                    let sql =
                        format!("INSERT INTO sites ({SITE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {SITE_COLUMNS}");
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.name.as_str())
                        .bind(new.time_zone.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let site = decode::site(&row)?;
                    record(&mut *tx, Some(tenant), change, "tenancy.site.create", "site", Some(site.id.to_string()), None, state(&site)).await?;
                    tx.commit().await?;
                    Ok(site)
                }

                async fn site_get(&self, tenant: TenantId, id: SiteId) -> StoreResult<Site> {
                    let mut tx = self.read(tenant).await?;
                    let site = fetch_by_id(&mut *tx, "sites", SITE_COLUMNS, tenant, id.as_uuid(), decode::site).await?;
                    tx.finish().await?;
                    Ok(site)
                }

                async fn site_list(&self, tenant: TenantId, filter: &SiteFilter, page: PageRequest) -> StoreResult<Page<Site>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("sites", SITE_COLUMNS, tenant);
                    push_name_contains(&mut query, &filter.name_contains);
                    push_within(&mut query, "id", filter.within.as_ref().map(|ids| ids.iter().map(SiteId::as_uuid)));
                    let found = fetch_page(&mut *tx, query, page, decode::site, |s| s.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn site_update(
                    &self,
                    tenant: TenantId,
                    id: SiteId,
                    patch: &SitePatch,
                    change: &ChangeContext,
                ) -> StoreResult<Site> {
                    let mut tx = self.write(tenant).await?;
                    let mut site = fetch_by_id(&mut *tx, "sites", SITE_COLUMNS, tenant, id.as_uuid(), decode::site).await?;
                    let before = state(&site);
                    if let Some(name) = &patch.name {
                        site.name = name.clone();
                    }
                    if let Some(time_zone) = &patch.time_zone {
                        site.time_zone = time_zone.clone();
                    }
                    site.updated_at = change.at;
                    sqlx::query("UPDATE sites SET name = $3, time_zone = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .bind(site.name.as_str())
                        .bind(site.time_zone.as_str())
                        .bind(change.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    record(&mut *tx, Some(tenant), change, "tenancy.site.update", "site", Some(site.id.to_string()), before, state(&site)).await?;
                    tx.commit().await?;
                    Ok(site)
                }

                async fn site_delete(&self, tenant: TenantId, id: SiteId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    // Released lockdowns go with their site (their history is in the access log); one in force blocks the delete.
                    sqlx::query("DELETE FROM lockdowns WHERE tenant_id = $1 AND site_id = $2 AND released_at IS NOT NULL")
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    delete_row(tx, "sites", SITE_COLUMNS, "site", tenant, id.as_uuid(), "the site still has zones, or a lockdown in force", decode::site, change).await
                }

                async fn zone_create(&self, tenant: TenantId, new: &NewZone, change: &ChangeContext) -> StoreResult<Zone> {
                    let mut tx = self.write(tenant).await?;
                    require(&mut *tx, "sites", "site_id", tenant, new.site_id.as_uuid()).await?;
                    if let Some(parent_id) = new.parent_id {
                        <$store>::lock_zone_tree(&mut *tx, tenant, new.site_id).await?;
                        check_zone_parent(&mut *tx, tenant, None, new.site_id, parent_id).await?;
                    }
                    let sql = format!(
                        "INSERT INTO zones ({ZONE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {ZONE_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.site_id.as_uuid())
                        .bind(new.parent_id.map(|p| p.as_uuid()))
                        .bind(new.name.as_str())
                        .bind(new.kind.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let zone = decode::zone(&row)?;
                    record(&mut *tx, Some(tenant), change, "tenancy.zone.create", "zone", Some(zone.id.to_string()), None, state(&zone)).await?;
                    tx.commit().await?;
                    Ok(zone)
                }

                async fn zone_get(&self, tenant: TenantId, id: ZoneId) -> StoreResult<Zone> {
                    let mut tx = self.read(tenant).await?;
                    let zone = fetch_by_id(&mut *tx, "zones", ZONE_COLUMNS, tenant, id.as_uuid(), decode::zone).await?;
                    tx.finish().await?;
                    Ok(zone)
                }

                async fn zones_within(&self, tenant: TenantId, sites: &[SiteId], zones: &[ZoneId]) -> StoreResult<Vec<ZoneId>> {
                    if sites.is_empty() && zones.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.read(tenant).await?;
                    let mut query = QueryBuilder::<Db>::new("WITH RECURSIVE within (id) AS (SELECT id FROM zones WHERE tenant_id = ");
                    query.push_bind(tenant.as_uuid()).push(" AND (1 = 0");
                    for (column, ids) in [("site_id", sites.iter().map(SiteId::as_uuid).collect::<Vec<_>>()), ("id", zones.iter().map(ZoneId::as_uuid).collect())] {
                        if !ids.is_empty() {
                            query.push(format!(" OR {column} "));
                            push_id_list(&mut query, ids);
                        }
                    }
                    query.push(") UNION SELECT child.id FROM zones child JOIN within ON child.parent_id = within.id WHERE child.tenant_id = ");
                    query.push_bind(tenant.as_uuid()).push(") SELECT id FROM within");
                    let ids: Vec<Uuid> = query.build_query_scalar().fetch_all(&mut *tx).await?;
                    tx.finish().await?;
                    Ok(ids.into_iter().map(ZoneId::from_uuid).collect())
                }

                async fn zone_list(&self, tenant: TenantId, filter: &ZoneFilter, page: PageRequest) -> StoreResult<Page<Zone>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("zones", ZONE_COLUMNS, tenant);
                    if let Some(site_id) = filter.site_id {
                        query.push(" AND site_id = ").push_bind(site_id.as_uuid());
                    }
                    if let Some(parent_id) = filter.parent_id {
                        query.push(" AND parent_id = ").push_bind(parent_id.as_uuid());
                    }
                    if filter.top_level {
                        query.push(" AND parent_id IS NULL");
                    }
                    if let Some(kind) = filter.kind {
                        query.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    push_name_contains(&mut query, &filter.name_contains);
                    push_within(&mut query, "id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
                    let found = fetch_page(&mut *tx, query, page, decode::zone, |z| z.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn zone_update(
                    &self,
                    tenant: TenantId,
                    id: ZoneId,
                    patch: &ZonePatch,
                    change: &ChangeContext,
                ) -> StoreResult<Zone> {
                    let mut tx = self.write(tenant).await?;
                    let mut zone = fetch_by_id(&mut *tx, "zones", ZONE_COLUMNS, tenant, id.as_uuid(), decode::zone).await?;
                    let before = state(&zone);
                    if let Some(parent_id) = patch.parent_id {
                        if let Some(parent_id) = parent_id {
                            <$store>::lock_zone_tree(&mut *tx, tenant, zone.site_id).await?;
                            check_zone_parent(&mut *tx, tenant, Some(id), zone.site_id, parent_id).await?;
                        }
                        zone.parent_id = parent_id;
                    }
                    if let Some(name) = &patch.name {
                        zone.name = name.clone();
                    }
                    if let Some(kind) = patch.kind {
                        zone.kind = kind;
                    }
                    zone.updated_at = change.at;
                    sqlx::query(
                        "UPDATE zones SET parent_id = $3, name = $4, kind = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(zone.parent_id.map(|p| p.as_uuid()))
                    .bind(zone.name.as_str())
                    .bind(zone.kind.as_str())
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::on_unique(err, "name"))?;
                    record(&mut *tx, Some(tenant), change, "tenancy.zone.update", "zone", Some(zone.id.to_string()), before, state(&zone)).await?;
                    tx.commit().await?;
                    Ok(zone)
                }

                async fn zone_delete(&self, tenant: TenantId, id: ZoneId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    sqlx::query("DELETE FROM lockdowns WHERE tenant_id = $1 AND zone_id = $2 AND released_at IS NOT NULL")
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                    delete_row(tx, "zones", ZONE_COLUMNS, "zone", tenant, id.as_uuid(), "the zone still holds zones, units, access points or devices, or an access level or a lockdown in force names it", decode::zone, change).await
                }

                async fn unit_create(&self, tenant: TenantId, new: &NewUnit, change: &ChangeContext) -> StoreResult<Unit> {
                    let mut tx = self.write(tenant).await?;
                    require(&mut *tx, "zones", "zone_id", tenant, new.zone_id.as_uuid()).await?;
                    let sql =
                        format!("INSERT INTO units ({UNIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {UNIT_COLUMNS}");
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.zone_id.as_uuid())
                        .bind(new.name.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let unit = decode::unit(&row)?;
                    record(&mut *tx, Some(tenant), change, "tenancy.unit.create", "unit", Some(unit.id.to_string()), None, state(&unit)).await?;
                    tx.commit().await?;
                    Ok(unit)
                }

                async fn unit_get(&self, tenant: TenantId, id: UnitId) -> StoreResult<Unit> {
                    let mut tx = self.read(tenant).await?;
                    let unit = fetch_by_id(&mut *tx, "units", UNIT_COLUMNS, tenant, id.as_uuid(), decode::unit).await?;
                    tx.finish().await?;
                    Ok(unit)
                }

                async fn unit_list(&self, tenant: TenantId, filter: &UnitFilter, page: PageRequest) -> StoreResult<Page<Unit>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("units", UNIT_COLUMNS, tenant);
                    if let Some(zone_id) = filter.zone_id {
                        query.push(" AND zone_id = ").push_bind(zone_id.as_uuid());
                    }
                    push_name_contains(&mut query, &filter.name_contains);
                    push_within(&mut query, "zone_id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
                    let found = fetch_page(&mut *tx, query, page, decode::unit, |u| u.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn unit_update(
                    &self,
                    tenant: TenantId,
                    id: UnitId,
                    patch: &UnitPatch,
                    change: &ChangeContext,
                ) -> StoreResult<Unit> {
                    let mut tx = self.write(tenant).await?;
                    let mut unit = fetch_by_id(&mut *tx, "units", UNIT_COLUMNS, tenant, id.as_uuid(), decode::unit).await?;
                    let before = state(&unit);
                    if let Some(zone_id) = patch.zone_id {
                        require(&mut *tx, "zones", "zone_id", tenant, zone_id.as_uuid()).await?;
                        unit.zone_id = zone_id;
                    }
                    if let Some(name) = &patch.name {
                        unit.name = name.clone();
                    }
                    unit.updated_at = change.at;
                    sqlx::query("UPDATE units SET zone_id = $3, name = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .bind(unit.zone_id.as_uuid())
                        .bind(unit.name.as_str())
                        .bind(change.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    record(&mut *tx, Some(tenant), change, "tenancy.unit.update", "unit", Some(unit.id.to_string()), before, state(&unit)).await?;
                    tx.commit().await?;
                    Ok(unit)
                }

                async fn unit_delete(&self, tenant: TenantId, id: UnitId, change: &ChangeContext) -> StoreResult<()> {
                    let tx = self.write(tenant).await?;
                    delete_row(tx, "units", UNIT_COLUMNS, "unit", tenant, id.as_uuid(), "people still belong to the unit", decode::unit, change).await
                }

                async fn access_point_create(
                    &self,
                    tenant: TenantId,
                    new: &NewAccessPoint,
                    change: &ChangeContext,
                ) -> StoreResult<AccessPoint> {
                    let mut tx = self.write(tenant).await?;
                    require(&mut *tx, "zones", "zone_id", tenant, new.zone_id.as_uuid()).await?;
                    let sql = format!(
                        "INSERT INTO access_points ({ACCESS_POINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                         RETURNING {ACCESS_POINT_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.zone_id.as_uuid())
                        .bind(new.name.as_str())
                        .bind(new.kind.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let access_point = decode::access_point(&row)?;
                    record(&mut *tx, Some(tenant), change, "tenancy.access_point.create", "access_point", Some(access_point.id.to_string()), None, state(&access_point)).await?;
                    tx.commit().await?;
                    Ok(access_point)
                }

                async fn access_point_get(&self, tenant: TenantId, id: AccessPointId) -> StoreResult<AccessPoint> {
                    let mut tx = self.read(tenant).await?;
                    let access_point =
                        fetch_by_id(&mut *tx, "access_points", ACCESS_POINT_COLUMNS, tenant, id.as_uuid(), decode::access_point)
                            .await?;
                    tx.finish().await?;
                    Ok(access_point)
                }

                async fn access_point_list(
                    &self,
                    tenant: TenantId,
                    filter: &AccessPointFilter,
                    page: PageRequest,
                ) -> StoreResult<Page<AccessPoint>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("access_points", ACCESS_POINT_COLUMNS, tenant);
                    if let Some(zone_id) = filter.zone_id {
                        query.push(" AND zone_id = ").push_bind(zone_id.as_uuid());
                    }
                    if let Some(kind) = filter.kind {
                        query.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    push_name_contains(&mut query, &filter.name_contains);
                    push_within(&mut query, "zone_id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
                    let found = fetch_page(&mut *tx, query, page, decode::access_point, |a| a.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn access_point_update(
                    &self,
                    tenant: TenantId,
                    id: AccessPointId,
                    patch: &AccessPointPatch,
                    change: &ChangeContext,
                ) -> StoreResult<AccessPoint> {
                    let mut tx = self.write(tenant).await?;
                    let mut access_point = fetch_by_id(&mut *tx, "access_points", ACCESS_POINT_COLUMNS, tenant, id.as_uuid(), decode::access_point).await?;
                    let before = state(&access_point);
                    if let Some(zone_id) = patch.zone_id {
                        require(&mut *tx, "zones", "zone_id", tenant, zone_id.as_uuid()).await?;
                        access_point.zone_id = zone_id;
                    }
                    if let Some(name) = &patch.name {
                        access_point.name = name.clone();
                    }
                    if let Some(kind) = patch.kind {
                        access_point.kind = kind;
                    }
                    access_point.updated_at = change.at;
                    sqlx::query(
                        "UPDATE access_points SET zone_id = $3, name = $4, kind = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(access_point.zone_id.as_uuid())
                    .bind(access_point.name.as_str())
                    .bind(access_point.kind.as_str())
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::on_unique(err, "name"))?;
                    record(&mut *tx, Some(tenant), change, "tenancy.access_point.update", "access_point", Some(access_point.id.to_string()), before, state(&access_point)).await?;
                    tx.commit().await?;
                    Ok(access_point)
                }

                async fn access_point_delete(&self, tenant: TenantId, id: AccessPointId, change: &ChangeContext) -> StoreResult<()> {
                    let tx = self.write(tenant).await?;
                    delete_row(tx, "access_points", ACCESS_POINT_COLUMNS, "access_point", tenant, id.as_uuid(), "an access level or a device still names the access point", decode::access_point, change).await
                }

                async fn person_create(&self, tenant: TenantId, new: &NewPerson, change: &ChangeContext) -> StoreResult<Person> {
                    let mut tx = self.write(tenant).await?;
                    if let Some(unit_id) = new.unit_id {
                        require(&mut *tx, "units", "unit_id", tenant, unit_id.as_uuid()).await?;
                    }
                    let ids = insert_people(&mut *tx, tenant, std::slice::from_ref(new), change.at, &|_| {}).await?;
                    let id = ids.first().copied().ok_or(StoreError::NotFound)?;
                    let person = fetch_by_id(&mut *tx, "people", PERSON_COLUMNS, tenant, id, decode::person).await?;
                    record(&mut *tx, Some(tenant), change, "people.person.create", "person", Some(person.id.to_string()), None, state(&person)).await?;
                    tx.commit().await?;
                    Ok(person)
                }

                async fn person_get(&self, tenant: TenantId, id: PersonId) -> StoreResult<Person> {
                    let mut tx = self.read(tenant).await?;
                    let person = fetch_by_id(&mut *tx, "people", PERSON_COLUMNS, tenant, id.as_uuid(), decode::person).await?;
                    tx.finish().await?;
                    Ok(person)
                }

                async fn person_list(
                    &self,
                    tenant: TenantId,
                    filter: &PersonFilter,
                    page: PageRequest,
                ) -> StoreResult<Page<Person>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("people", PERSON_COLUMNS, tenant);
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
                    let found = fetch_page(&mut *tx, query, page, decode::person, |p| p.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn person_update(
                    &self,
                    tenant: TenantId,
                    id: PersonId,
                    patch: &PersonPatch,
                    change: &ChangeContext,
                ) -> StoreResult<Person> {
                    let mut tx = self.write(tenant).await?;
                    let current = fetch_by_id(&mut *tx, "people", PERSON_COLUMNS, tenant, id.as_uuid(), decode::person).await?;
                    if let Some(Some(unit_id)) = patch.unit_id {
                        require(&mut *tx, "units", "unit_id", tenant, unit_id.as_uuid()).await?;
                    }
                    let mut person = current.patched(patch.clone());
                    let person_action = if person.status == PersonStatus::Archived && current.status != PersonStatus::Archived {
                        "people.person.archive"
                    } else {
                        "people.person.update"
                    };
                    person.updated_at = change.at;
                    write_person(&mut *tx, &person).await?;
                    record(&mut *tx, Some(tenant), change, person_action, "person", Some(person.id.to_string()), state(&current), state(&person)).await?;
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
                    let ids = insert_people(&mut *tx, tenant, people, change.at, progress).await?;
                    record(&mut *tx, Some(tenant), change, "people.person.import", "person", None, None, Some(serde_json::json!({ "imported": ids.len() }))).await?;
                    tx.commit().await?;
                    Ok(ids.len())
                }

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
                    let id = AccountId::generate();
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
                            return Err(ValidationError::new("roles.tenant_id", "an account's roles are created in the tenant the call is for").into());
                        }
                        insert_role_assignment(&mut *tx, id, role, "roles.", change.at).await?;
                    }
                    if let Some(person) = account.person_id {
                        let tenant = tenant.ok_or_else(|| ValidationError::new("person_id", "a person belongs to a tenant"))?;
                        require(&mut *tx, "people", "person_id", tenant, person.as_uuid()).await?;
                        sqlx::query("INSERT INTO account_people (account_id, tenant_id, person_id) VALUES ($1, $2, $3)")
                            .bind(id.as_uuid())
                            .bind(tenant.as_uuid())
                            .bind(person.as_uuid())
                            .execute(&mut *tx)
                            .await
                            .map_err(|err| StoreError::on_unique_among(err, &["person_id"]))?;
                    }
                    let created = account_by_id(&mut *tx, id).await?;
                    record(&mut *tx, tenant, change, "identity.account.create", "account", Some(id.to_string()), None, state(&created)).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn account_get(&self, id: AccountId) -> StoreResult<gatehouse_domain::identity::Account> {
                    let mut tx = self.read_platform().await?;
                    let account = account_by_id(&mut *tx, id).await?;
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
                    let roles = roles_of(&mut *tx, &ids, Some(tenant)).await?;
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
                    let session = session_by_id(&mut *tx, id).await?;
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
                        let session = session_by_id(&mut *tx, id).await?;
                        tx.finish().await?;
                        session.tenant_id
                    };
                    let mut tx = match tenant {
                        Some(tenant) => self.write(tenant).await?,
                        None => self.write_platform().await?,
                    };
                    let before = session_by_id(&mut *tx, id).await?;
                    if before.revoked_at.is_none() {
                        sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
                            .bind(id.as_uuid())
                            .bind(change.at)
                            .bind(reason)
                            .execute(&mut *tx)
                            .await?;
                        let after = session_by_id(&mut *tx, id).await?;
                        record(&mut *tx, tenant, change, "identity.session.revoke", "session", Some(id.to_string()), state(&before), state(&after)).await?;
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
                    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                        .bind(change.at)
                        .execute(&mut *tx)
                        .await?;
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
                    record(&mut *tx, None, change, "identity.signing_key.rotate", "signing_key", Some(key.kid.clone()), None, Some(after)).await?;
                    tx.commit().await?;
                    Ok(())
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
                    let (kind, scope_id) = scope_columns(&mut *tx, Some(tenant), key.scope, field).await?;
                    require_role(&mut *tx, tenant, &key.role, "role").await?;
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
                    record(&mut *tx, Some(tenant), change, "identity.api_key.create", "api_key", Some(created.id.to_string()), None, state(&created)).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn api_key_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<gatehouse_domain::identity::ApiKey>> {
                    let mut tx = self.read(tenant).await?;
                    let query = select_in_tenant("api_keys", API_KEY_COLUMNS, tenant);
                    let found = fetch_page(&mut *tx, query, page, decode::api_key, |key| key.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
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
                    let before = fetch_by_id(&mut *tx, "api_keys", API_KEY_COLUMNS, tenant, id.as_uuid(), decode::api_key).await?;
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
                    let after = fetch_by_id(&mut *tx, "api_keys", API_KEY_COLUMNS, tenant, id.as_uuid(), decode::api_key).await?;
                    record(&mut *tx, Some(tenant), change, "identity.api_key.revoke", "api_key", Some(id.to_string()), state(&before), state(&after)).await?;
                    tx.commit().await?;
                    Ok(after)
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
                    let before = account_by_id(&mut *tx, id).await?;
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
                        revoke_sessions_of(&mut *tx, id, None, "account disabled", change.at).await?
                    } else {
                        Vec::new()
                    };
                    let after = account_by_id(&mut *tx, id).await?;
                    record(&mut *tx, tenant, change, "identity.account.update", "account", Some(id.to_string()), state(&before), state(&after)).await?;
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
                    let revoked = revoke_sessions_of(&mut *tx, id, keep_session, "password changed", change.at).await?;
                    let details = serde_json::json!({ "sessions_ended": revoked.len() });
                    record(&mut *tx, None, change, "identity.account.password", "account", Some(id.to_string()), None, Some(details)).await?;
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
                    sqlx::query("INSERT INTO password_resets (token_hash, account_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
                        .bind(token_hash)
                        .bind(account.as_uuid())
                        .bind(change.at)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?;
                    let details = serde_json::json!({ "expires_at": expires_at });
                    record(&mut *tx, None, change, "identity.account.password_reset", "account", Some(account.to_string()), None, Some(details)).await?;
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
                                (done.rows_affected() == 1).then(|| row.try_get::<Uuid, _>("account_id")).transpose()?.map(AccountId::from_uuid)
                            }
                        }
                        None => None,
                    };
                    tx.commit().await?;
                    Ok(account)
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
                    record(&mut *tx, None, change, "identity.mfa.enroll", "account", Some(account.to_string()), None, None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn mfa_confirm(&self, account: AccountId, step: i64, recovery_hashes: &[String], change: &ChangeContext) -> StoreResult<()> {
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
                    record(&mut *tx, None, change, "identity.mfa.confirm", "account", Some(account.to_string()), None, None).await?;
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
                    let done = sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL")
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
                    record(&mut *tx, None, change, "identity.mfa.disable", "account", Some(account.to_string()), None, None).await?;
                    tx.commit().await?;
                    Ok(())
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
                    record(&mut *tx, tenant, change, action, target_type, target_id, None, details).await?;
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

                async fn idempotency_claim(
                    &self,
                    claim: &IdempotencyClaim,
                    now: DateTime<Utc>,
                ) -> StoreResult<IdempotencyOutcome> {
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
                    sqlx::query(
                        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at = $3 AND status IS NULL",
                    )
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
                    let done =
                        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }
            }
        }
    };
}

pub(crate) use sql_store;

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Transaction};

use crate::StoreResult;

/// Ends a read: a transaction commits, a bare pooled connection just goes back to the pool.
pub(crate) trait Finish {
    fn finish(self) -> impl Future<Output = StoreResult<()>> + Send;
}

impl<DB: Database> Finish for Transaction<'static, DB> {
    async fn finish(self) -> StoreResult<()> {
        Ok(self.commit().await?)
    }
}

impl<DB: Database> Finish for PoolConnection<DB> {
    async fn finish(self) -> StoreResult<()> {
        drop(self);
        Ok(())
    }
}
