//! Helpers every area's SQL shares: paging, lookups by id, reference checks,
//! audit entries and audited deletes.

use std::collections::HashSet;
use std::sync::Mutex;

use uuid::{ContextV7, Timestamp};

use super::*;

/// Ids bound in one `IN (…)` list: well under both engines' bound-parameter limits.
const IDS_PER_STATEMENT: usize = 1_000;

pub(super) fn paged<T>(
    rows: Vec<Row>,
    limit: u32,
    decode: impl Fn(&Row) -> StoreResult<T>,
    id_of: impl Fn(&T) -> Uuid,
) -> StoreResult<Page<T>> {
    let more = rows.len() > limit as usize;
    let items = rows.iter().take(limit as usize).map(decode).collect::<StoreResult<Vec<T>>>()?;
    let next_after = if more { items.last().map(id_of) } else { None };
    Ok(Page { items, next_after })
}

pub(super) fn push_page(query: &mut QueryBuilder<'_, Db>, page: PageRequest) {
    if let Some(after) = page.after {
        query.push(" AND id > ").push_bind(after);
    }
    query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
}

/// `AND column IN (ids…)`; an empty list matches nothing.
pub(super) fn push_within(query: &mut QueryBuilder<'_, Db>, column: &'static str, ids: Option<impl Iterator<Item = Uuid>>) {
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
pub(super) fn push_id_list(query: &mut QueryBuilder<'_, Db>, ids: impl IntoIterator<Item = Uuid>) {
    query.push("IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
}

pub(super) fn push_name_contains(query: &mut QueryBuilder<'_, Db>, needle: &Option<String>) {
    if let Some(needle) = needle {
        query.push(" AND lower(name) LIKE ").push_bind(contains_pattern(needle)).push(" ESCAPE '\\'");
    }
}

/// The row of `table` with this id in this tenant, or [`StoreError::NotFound`].
pub(super) async fn fetch_by_id<T>(
    conn: &mut Conn,
    table: &'static str,
    columns: &'static str,
    tenant: TenantId,
    id: Uuid,
    decode: impl Fn(&Row) -> StoreResult<T>,
) -> StoreResult<T> {
    let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode).transpose()?.ok_or(StoreError::NotFound)
}

/// `SELECT columns FROM table WHERE tenant_id = <tenant>`, for filters to extend.
pub(super) fn select_in_tenant(table: &'static str, columns: &'static str, tenant: TenantId) -> QueryBuilder<'static, Db> {
    let mut query = QueryBuilder::<Db>::new(format!("SELECT {columns} FROM {table} WHERE tenant_id = "));
    query.push_bind(tenant.as_uuid());
    query
}

/// Runs a list query one page at a time, in id order.
pub(super) async fn fetch_page<T>(
    conn: &mut Conn,
    mut query: QueryBuilder<'static, Db>,
    page: PageRequest,
    decode: impl Fn(&Row) -> StoreResult<T>,
    id_of: impl Fn(&T) -> Uuid,
) -> StoreResult<Page<T>> {
    push_page(&mut query, page);
    let rows = query.build().fetch_all(&mut *conn).await?;
    paged(rows, page.limit, decode, id_of)
}

pub(super) async fn exists(conn: &mut Conn, table: &'static str, tenant: TenantId, id: Uuid) -> StoreResult<bool> {
    let sql = format!("SELECT 1 AS one FROM {table} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query(&sql).bind(tenant.as_uuid()).bind(id).fetch_optional(&mut *conn).await?.is_some())
}

pub(super) async fn require(conn: &mut Conn, table: &'static str, field: &str, tenant: TenantId, id: Uuid) -> StoreResult<()> {
    if exists(conn, table, tenant, id).await? {
        Ok(())
    } else {
        let what = table.trim_end_matches('s').replace('_', " ");
        Err(ValidationError::new(field, format!("no {what} {id} in this tenant")).into())
    }
}

/// A fresh id for a row written at `at` (the change's instant): a UUIDv7 whose
/// time is that instant, so ids stay time-ordered without the store reading the
/// clock. Ids made for the same millisecond in this process count up.
pub(super) fn new_id(at: DateTime<Utc>) -> Uuid {
    static CONTEXT: Mutex<ContextV7> = Mutex::new(ContextV7::new());
    let context = CONTEXT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(&*context, seconds, at.timestamp_subsec_nanos()))
}

/// The JSON form of a record for the audit trail.
pub(super) fn state<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Appends an audit entry; called inside the transaction of the change it describes.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
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
    .bind(new_id(change.at))
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

// ---- Decoding ---------------------------------------------------

pub(super) fn json_column<T: serde::de::DeserializeOwned + 'static>(row: &Row, column: &'static str) -> StoreResult<T> {
    row.try_get::<Json<T>, _>(column).map(|json| json.0).map_err(|err| StoreError::Corrupt(format!("{column}: {err}")))
}

/// A non-negative count or code kept in a 64-bit column.
pub(super) fn u32_column(row: &Row, column: &'static str) -> StoreResult<Option<u32>> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|n| u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{column}: {n} is out of range"))))
        .transpose()
}

pub(super) fn text_column(row: &Row, column: &'static str) -> StoreResult<String> {
    Ok(row.try_get::<String, _>(column)?)
}

pub(super) fn name_column(row: &Row) -> StoreResult<Name> {
    stored("name", Name::parse(&text_column(row, "name")?))
}

// ---- Reading ----------------------------------------------------

/// Every row of `table` in the tenant, in id order.
pub(super) async fn all_in_tenant<T>(
    conn: &mut Conn,
    table: &'static str,
    columns: &'static str,
    tenant: TenantId,
    decode: impl Fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 ORDER BY id");
    rows_of_tenant(conn, &sql, tenant, decode).await
}

/// Every row `sql` finds with the tenant bound as `$1`, decoded.
pub(super) async fn rows_of_tenant<T>(
    conn: &mut Conn,
    sql: &str,
    tenant: TenantId,
    decode: impl Fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let rows = sqlx::query(sql).bind(tenant.as_uuid()).fetch_all(&mut *conn).await?;
    rows.iter().map(decode).collect()
}

// ---- Checking references ----------------------------------------

/// Which of these ids are rows of `table` in the tenant.
pub(super) async fn found_ids(
    conn: &mut Conn,
    table: &'static str,
    tenant: TenantId,
    ids: impl IntoIterator<Item = Uuid>,
) -> StoreResult<HashSet<Uuid>> {
    let mut wanted: Vec<Uuid> = ids.into_iter().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashSet::with_capacity(wanted.len());
    for chunk in wanted.chunks(IDS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT id FROM {table} WHERE tenant_id = "));
        query.push_bind(tenant.as_uuid()).push(" AND id ");
        push_id_list(&mut query, chunk.iter().copied());
        let rows: Vec<Uuid> = query.build_query_scalar().fetch_all(&mut *conn).await?;
        found.extend(rows);
    }
    Ok(found)
}

pub(super) fn missing(field: String, what: &str, id: Uuid) -> StoreError {
    ValidationError::new(field, format!("no {what} {id} in this tenant")).into()
}

/// One kind of tenant record: its table, whose rows are addressed by
/// `(tenant_id, id)`, its columns, how a row decodes, and how the audit trail
/// names it (`{module}.{target}.{verb}`, so actions read like permission codes).
pub(super) struct Records<T> {
    pub(super) table: &'static str,
    pub(super) columns: &'static str,
    pub(super) decode: fn(&Row) -> StoreResult<T>,
    pub(super) id_of: fn(&T) -> Uuid,
    /// `{module}.{target}`: `tenancy.site`, `access.access_level`.
    pub(super) audit_name: &'static str,
}

impl<T: serde::Serialize> Records<T> {
    pub(super) const fn new(
        table: &'static str,
        columns: &'static str,
        decode: fn(&Row) -> StoreResult<T>,
        id_of: fn(&T) -> Uuid,
        audit_name: &'static str,
    ) -> Self {
        Records { table, columns, decode, id_of, audit_name }
    }

    /// The audit trail's target type: `site`, `access_level`.
    fn target(&self) -> &'static str {
        self.audit_name.rsplit('.').next().unwrap_or(self.audit_name)
    }

    /// The record with this id in this tenant, or [`StoreError::NotFound`].
    pub(super) async fn get(&self, conn: &mut Conn, tenant: TenantId, id: Uuid) -> StoreResult<T> {
        fetch_by_id(conn, self.table, self.columns, tenant, id, self.decode).await
    }

    /// Every record of the tenant, in id order.
    pub(super) async fn all(&self, conn: &mut Conn, tenant: TenantId) -> StoreResult<Vec<T>> {
        all_in_tenant(conn, self.table, self.columns, tenant, self.decode).await
    }

    /// `SELECT columns FROM table WHERE tenant_id = <tenant>`, for filters to extend.
    pub(super) fn select(&self, tenant: TenantId) -> QueryBuilder<'static, Db> {
        select_in_tenant(self.table, self.columns, tenant)
    }

    /// One page of what `query` (from [`Records::select`]) finds, in id order.
    pub(super) async fn page(
        &self,
        conn: &mut Conn,
        query: QueryBuilder<'static, Db>,
        page: PageRequest,
    ) -> StoreResult<Page<T>> {
        fetch_page(conn, query, page, self.decode, self.id_of).await
    }

    /// Records `verb` done to one record, with its state before and after.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit(
        &self,
        conn: &mut Conn,
        tenant: TenantId,
        change: &ChangeContext,
        verb: &str,
        id: Uuid,
        before: Option<&T>,
        after: Option<&T>,
    ) -> StoreResult<()> {
        let action = format!("{}.{verb}", self.audit_name);
        let (before, after) = (before.and_then(state), after.and_then(state));
        record(conn, Some(tenant), change, &action, self.target(), Some(id.to_string()), before, after).await
    }

    /// Ends a change of one record: records `verb` with the states before and
    /// after, commits, and hands the record back.
    pub(super) async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'static, Db>,
        tenant: TenantId,
        change: &ChangeContext,
        verb: &str,
        before: Option<&T>,
        after: T,
    ) -> StoreResult<T> {
        self.audit(&mut tx, tenant, change, verb, (self.id_of)(&after), before, Some(&after)).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes one record, read beforehand as `before`, and records it. `in_use`
    /// is the conflict's message while another row still refers to it.
    pub(super) async fn delete(
        &self,
        conn: &mut Conn,
        tenant: TenantId,
        before: &T,
        in_use: &'static str,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let id = (self.id_of)(before);
        let sql = format!("DELETE FROM {} WHERE tenant_id = $1 AND id = $2", self.table);
        sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|err| StoreError::on_referenced(err, in_use))?;
        self.audit(conn, tenant, change, "delete", id, Some(before), None).await
    }

    /// Deletes the record with this id inside `tx` (read first, for the audit trail) and commits.
    pub(super) async fn delete_in(
        &self,
        mut tx: sqlx::Transaction<'static, Db>,
        tenant: TenantId,
        id: Uuid,
        in_use: &'static str,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        let before = self.get(&mut tx, tenant, id).await?;
        self.delete(&mut tx, tenant, &before, in_use, change).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl This {
    /// One record, read on its own.
    pub(super) async fn read_record<T: serde::Serialize>(
        &self,
        records: &Records<T>,
        tenant: TenantId,
        id: Uuid,
    ) -> StoreResult<T> {
        let mut conn = self.read(tenant).await?;
        let found = records.get(&mut conn, tenant, id).await?;
        conn.finish().await?;
        Ok(found)
    }

    /// One page of a tenant's records that `query` (from [`Records::select`]) finds.
    pub(super) async fn read_page<T: serde::Serialize>(
        &self,
        records: &Records<T>,
        tenant: TenantId,
        query: QueryBuilder<'static, Db>,
        page: PageRequest,
    ) -> StoreResult<Page<T>> {
        let mut conn = self.read(tenant).await?;
        let found = records.page(&mut conn, query, page).await?;
        conn.finish().await?;
        Ok(found)
    }

    /// Deletes one record in a transaction of its own, recording what it was.
    pub(super) async fn delete_record<T: serde::Serialize>(
        &self,
        records: &Records<T>,
        tenant: TenantId,
        id: Uuid,
        in_use: &'static str,
        change: &ChangeContext,
    ) -> StoreResult<()> {
        records.delete_in(self.write(tenant).await?, tenant, id, in_use, change).await
    }
}
