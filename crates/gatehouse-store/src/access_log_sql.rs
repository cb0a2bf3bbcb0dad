//! The SQL of [`crate::AccessLogStore`]: the hash-chained access log.
//! Expanded by [`crate::sql::sql_store!`] inside each backend's store module.
//!
//! An append is one transaction for the whole batch, whatever tenants it holds.
//! Each tenant's head (`access_log_heads`) moves forward only from the entry the
//! batch continues: a compare-and-set on `(seq, hash)`, so a node whose view of
//! the head is stale fails with `Conflict { field: "seq" }` instead of forking
//! the chain. Tenants are taken in id order, so two nodes lock heads in the same
//! order and never deadlock.

use std::collections::BTreeMap;

use chrono::SubsecRound as _;

use gatehouse_access::chain::{LogRecord, GENESIS};
use gatehouse_domain::{TenantId, ValidationError};

use crate::access::{AccessLogFilter, CredentialUse};
use crate::devices::DeviceMessageKey;
use crate::{StoreError, StoreResult};

pub(crate) const LOG_COLUMNS: &str = "tenant_id, seq, id, at, kind, access_point_id, person_id, credential_id, \
     credential_kind, direction, granted, reason, door_action, rule, detail, prev_hash, hash";

/// Most rows in one multi-row INSERT into the access log: 17 columns make 17,408
/// bound values, under SQLite's 32,766 and PostgreSQL's 65,535.
pub(crate) const LOG_ROWS_PER_STATEMENT: usize = 1024;

/// Up to this many rows, the rest of a batch goes in one statement of its exact size.
pub(crate) const LOG_EXACT_ROWS_MAX: usize = 64;

/// How many rows each INSERT of a batch of `rows` carries: full statements of
/// [`LOG_ROWS_PER_STATEMENT`], then the rest in one statement when it is at most
/// [`LOG_EXACT_ROWS_MAX`] (the common group-commit batch: every statement is a round
/// trip to the connection), else as powers of two. Every statement shape is prepared
/// once per connection and reused; a connection caches at most 75 of them.
pub(crate) fn chunk_sizes(rows: usize) -> impl Iterator<Item = usize> {
    let rest = rows % LOG_ROWS_PER_STATEMENT;
    let exact = (rest > 0 && rest <= LOG_EXACT_ROWS_MAX).then_some(rest);
    let powers = (0..LOG_ROWS_PER_STATEMENT.trailing_zeros())
        .rev()
        .map(|bit| 1usize << bit)
        .filter(move |size| exact.is_none() && rest & size != 0);
    std::iter::repeat_n(LOG_ROWS_PER_STATEMENT, rows / LOG_ROWS_PER_STATEMENT).chain(exact).chain(powers)
}

/// One tenant's part of a batch: its entries in order, its credential uses, and the ids of
/// the device messages its entries came from.
pub(crate) struct TenantBatch<'a> {
    pub tenant: TenantId,
    pub records: Vec<&'a LogRecord>,
    pub uses: Vec<&'a CredentialUse>,
    pub messages: Vec<&'a DeviceMessageKey>,
}

impl TenantBatch<'_> {
    /// The head the batch continues, `(seq, hash)`, if it has entries.
    pub fn continues(&self) -> Option<(i64, [u8; 32])> {
        self.records.first().map(|first| (first.seq.saturating_sub(1), first.prev_hash))
    }

    /// Whether the batch starts the tenant's chain.
    pub fn starts_chain(&self) -> bool {
        self.continues() == Some((0, GENESIS))
    }
}

/// Splits a batch by tenant, in tenant id order, each tenant's entries in the
/// order given. Each tenant's entries must follow one another (consecutive
/// numbers, each linked to the one before): anything else is a caller's bug.
pub(crate) fn by_tenant<'a>(
    records: &'a [LogRecord],
    uses: &'a [CredentialUse],
    messages: &'a [DeviceMessageKey],
) -> StoreResult<Vec<TenantBatch<'a>>> {
    let mut batches: BTreeMap<TenantId, TenantBatch<'a>> = BTreeMap::new();
    let empty = |tenant| TenantBatch { tenant, records: Vec::new(), uses: Vec::new(), messages: Vec::new() };
    for record in records {
        let batch = batches.entry(record.tenant_id).or_insert_with(|| empty(record.tenant_id));
        if let Some(previous) = batch.records.last() {
            if previous.seq.checked_add(1) != Some(record.seq) || record.prev_hash != previous.hash {
                return Err(ValidationError::new(
                    "seq",
                    format!(
                        "entry {} of tenant {} does not follow entry {} of the same batch",
                        record.seq, record.tenant_id, previous.seq
                    ),
                )
                .into());
            }
        }
        batch.records.push(record);
    }
    for used in uses {
        batches.entry(used.tenant).or_insert_with(|| empty(used.tenant)).uses.push(used);
    }
    for message in messages {
        batches.entry(message.tenant).or_insert_with(|| empty(message.tenant)).messages.push(message);
    }
    Ok(batches.into_values().collect())
}

/// Device message ids per multi-row INSERT (4 bound values each).
pub(crate) const MESSAGE_KEYS_PER_STATEMENT: usize = 1_000;

/// `INSERT INTO device_message_ids …` for one tenant's keys (at most
/// [`MESSAGE_KEYS_PER_STATEMENT`]); a key already recorded violates the primary key.
pub(crate) fn insert_message_keys<'a, DB>(keys: &[&'a DeviceMessageKey]) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    uuid::Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    chrono::DateTime<chrono::Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::new("INSERT INTO device_message_ids (tenant_id, device_id, message_id, recorded_at) ");
    query.push_values(keys, |mut row, key| {
        row.push_bind(key.tenant.as_uuid()).push_bind(key.device.as_uuid()).push_bind(key.message_id.as_str()).push_bind(key.at);
    });
    query
}

/// The order a listing reads one tenant's log in, and where it starts in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogOrder {
    /// Sequence order, after this `seq` when given.
    Seq(Option<i64>),
    /// The order of the instants the entries report ([`LogRecord::reported_at`], else `at`),
    /// then `seq`, after this pair when given. Only this order selects the instant, as
    /// `reported_key`: reading it costs a JSON parse per row.
    Reported(Option<(chrono::DateTime<chrono::Utc>, i64)>),
}

impl LogOrder {
    /// The `seq` a sequence-order listing starts after.
    pub(crate) fn after_seq(self) -> Option<i64> {
        match self {
            LogOrder::Seq(after) => after,
            LogOrder::Reported(_) => None,
        }
    }
}

/// ` AND {prefix}column = value` for each condition of `filter`, and the cursor of `order`.
/// `reported` is the engine's expression for the instant an entry reports.
pub(crate) fn push_log_conditions<'a, DB>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    prefix: &str,
    reported: &str,
    filter: &AccessLogFilter,
    order: LogOrder,
) where
    DB: sqlx::Database,
    uuid::Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    chrono::DateTime<chrono::Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(from) = filter.from {
        query.push(format!(" AND {prefix}at >= ")).push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(format!(" AND {prefix}at < ")).push_bind(to);
    }
    if let Some(person) = filter.person_id {
        query.push(format!(" AND {prefix}person_id = ")).push_bind(person.as_uuid());
    }
    if let Some(point) = filter.access_point_id {
        query.push(format!(" AND {prefix}access_point_id = ")).push_bind(point.as_uuid());
    }
    if let Some(kind) = &filter.credential_kind {
        query.push(format!(" AND {prefix}credential_kind = ")).push_bind(kind.clone());
    }
    if let Some(granted) = filter.granted {
        query.push(format!(" AND {prefix}granted = ")).push_bind(granted);
    }
    if let Some(reason) = &filter.reason {
        query.push(format!(" AND {prefix}reason = ")).push_bind(reason.clone());
    }
    if let Some(from) = filter.reported_from {
        query.push(format!(" AND {reported} >= ")).push_bind(from);
    }
    if let Some(to) = filter.reported_to {
        query.push(format!(" AND {reported} < ")).push_bind(to);
    }
    match order {
        LogOrder::Seq(None) | LogOrder::Reported(None) => {}
        LogOrder::Seq(Some(after)) => {
            query.push(format!(" AND {prefix}seq > ")).push_bind(after);
        }
        LogOrder::Reported(Some((at, seq))) => {
            query.push(format!(" AND ({reported} > ")).push_bind(at);
            query.push(format!(" OR ({reported} = ")).push_bind(at);
            query.push(format!(" AND {prefix}seq > ")).push_bind(seq).push("))");
        }
    }
}

/// A stored 32-byte hash.
pub(crate) fn hash32(column: &'static str, bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("{column}: {} bytes where a hash has 32", bytes.len())))
}

/// The SQLite part of one tenant's append, inside the batch's transaction.
///
/// Moving the head and inserting the first rows are one command to the
/// connection's worker thread (two statements, one argument list numbered
/// `?1`, `?2`, …): every command is a hand-off to that thread and back. The head
/// statement returns a row only if it moved; otherwise the caller's
/// transaction is dropped, so the rows inserted beside it are rolled back.
pub(crate) async fn append_tenant_sqlite(conn: &mut sqlx::SqliteConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
    let records = &batch.records[..];
    if let (Some((seq, hash)), Some(last)) = (batch.continues(), records.last()) {
        let mut sizes = chunk_sizes(records.len());
        let mut rest = records;
        if batch.starts_chain() {
            // Once per tenant: not worth a statement shape of its own.
            let moved = sqlx::query(
                "INSERT INTO access_log_heads (tenant_id, seq, hash, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(batch.tenant.as_uuid())
            .bind(last.seq)
            .bind(&last.hash[..])
            .bind(last.at.trunc_subsecs(6))
            .execute(&mut *conn)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(StoreError::Conflict { field: "seq" });
            }
        } else {
            let size = sizes.next().unwrap_or(records.len());
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let mut sql = String::from(SQLITE_MOVE_HEAD);
            push_sqlite_insert(&mut sql, chunk.len());
            let query = bind_sqlite_move_head(sqlx::query(&sql), batch.tenant, last, seq, &hash);
            let moved =
                bind_sqlite_rows(query, chunk).fetch_all(&mut *conn).await.map_err(|err| StoreError::on_unique(err, "seq"))?;
            if moved.len() != 1 {
                return Err(StoreError::Conflict { field: "seq" });
            }
        }
        for size in sizes {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let mut sql = String::new();
            push_sqlite_insert(&mut sql, chunk.len());
            bind_sqlite_rows(sqlx::query(&sql), chunk)
                .execute(&mut *conn)
                .await
                .map_err(|err| StoreError::on_unique(err, "seq"))?;
        }
    }
    for used in &batch.uses {
        sqlx::query("UPDATE credentials SET used_at = $3 WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL")
            .bind(used.tenant.as_uuid())
            .bind(used.credential.as_uuid())
            .bind(used.at)
            .execute(&mut *conn)
            .await?;
    }
    for keys in batch.messages.chunks(MESSAGE_KEYS_PER_STATEMENT) {
        let mut query = insert_message_keys::<sqlx::Sqlite>(keys);
        query.build().execute(&mut *conn).await.map_err(|err| StoreError::on_unique(err, "message_id"))?;
    }
    Ok(())
}

/// Whether [`append_committed_sqlite`] can write a batch of one tenant alone: it
/// continues the chain, fits one INSERT statement and marks no credential used
/// (the rest go through [`append_tenant_sqlite`] in a transaction of their own).
pub(crate) fn fits_one_sqlite_command(batch: &TenantBatch<'_>) -> bool {
    !batch.records.is_empty()
        && batch.uses.is_empty()
        && batch.messages.is_empty()
        && !batch.starts_chain()
        && chunk_sizes(batch.records.len()).count() == 1
}

/// A whole transaction as one command to the connection's worker thread:
/// `BEGIN IMMEDIATE`, move the head, insert the entries only if the head now
/// names the batch's last entry (that is, it moved), `COMMIT`. A head that was
/// elsewhere commits nothing and returns a conflict. On any error the caller
/// must close the connection: the transaction may still be open on it.
pub(crate) async fn append_committed_sqlite(conn: &mut sqlx::SqliteConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
    let records = &batch.records[..];
    let (Some((seq, hash)), Some(last)) = (batch.continues(), records.last()) else { return Ok(()) };
    let mut sql = format!("BEGIN IMMEDIATE; {SQLITE_MOVE_HEAD}");
    push_sqlite_insert(&mut sql, records.len());
    // `INSERT … VALUES (…), (…)` becomes `INSERT … SELECT * FROM (VALUES (…), (…)) WHERE …`.
    let values = sql.rfind(" VALUES ").unwrap_or(sql.len());
    sql.replace_range(values..values + " VALUES ".len(), " SELECT * FROM (VALUES ");
    sql.push_str(
        ") WHERE EXISTS (SELECT 1 FROM access_log_heads WHERE tenant_id = ? AND seq = ? AND hash = ?); \
         COMMIT",
    );
    // Placeholders are bound in the order they appear, across the statements.
    let query = bind_sqlite_move_head(sqlx::query(&sql), batch.tenant, last, seq, &hash);
    let query = bind_sqlite_rows(query, records).bind(batch.tenant.as_uuid()).bind(last.seq).bind(&last.hash[..]);
    let moved = query.fetch_all(&mut *conn).await.map_err(|err| StoreError::on_unique(err, "seq"))?;
    if moved.len() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict { field: "seq" })
    }
}

/// Moves a tenant's head to a batch's last entry only from the entry the batch
/// continues; returns the head's `seq` if it moved. Bound by [`bind_sqlite_move_head`].
const SQLITE_MOVE_HEAD: &str = "UPDATE access_log_heads SET seq = ?, hash = ?, updated_at = ? \
     WHERE tenant_id = ? AND seq = ? AND hash = ? RETURNING seq; ";

fn bind_sqlite_move_head<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    tenant: TenantId,
    last: &'q LogRecord,
    continued_seq: i64,
    continued_hash: &'q [u8],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query
        .bind(last.seq)
        .bind(&last.hash[..])
        .bind(last.at.trunc_subsecs(6))
        .bind(tenant.as_uuid())
        .bind(continued_seq)
        .bind(continued_hash)
}

/// `INSERT INTO access_log (…) VALUES (?, …), …` for `rows` rows. The placeholders
/// are anonymous on purpose: for every numbered one (`?7`) sqlx asks SQLite its name,
/// and SQLite finds it by walking the list of names, so a batch of 30 entries (510
/// placeholders) spent a fifth of the writer thread in that walk.
fn push_sqlite_insert(sql: &mut String, rows: usize) {
    use std::fmt::Write as _;
    let columns = LOG_COLUMNS.split(',').count();
    let _ = write!(sql, "INSERT INTO access_log ({LOG_COLUMNS}) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            sql.push_str(if column == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
    }
}

fn bind_sqlite_rows<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    records: &[&'q LogRecord],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for record in records {
        query = query
            .bind(record.tenant_id.as_uuid())
            .bind(record.seq)
            .bind(record.id.as_uuid())
            // The hash covers microseconds; both databases keep exactly those.
            .bind(record.at.trunc_subsecs(6))
            .bind(record.kind.as_str())
            .bind(record.access_point_id.map(|id| id.as_uuid()))
            .bind(record.person_id.map(|id| id.as_uuid()))
            .bind(record.credential_id.map(|id| id.as_uuid()))
            .bind(record.credential_kind.as_deref())
            .bind(record.direction.as_deref())
            .bind(record.granted)
            .bind(record.reason.as_deref())
            .bind(record.door_action.as_deref())
            .bind(record.rule.as_deref())
            .bind(record.detail.as_deref())
            .bind(&record.prev_hash[..])
            .bind(&record.hash[..]);
    }
    query
}

/// The PostgreSQL part of one tenant's append: one statement, whether in the
/// batch's transaction or on its own (autocommit). The connection must act in
/// the tenant (`gatehouse.tenant_id`) for row-level security.
///
/// The head moves first, in a data-modifying CTE; the entries (from arrays, so
/// one statement shape serves every batch size) and the credential uses are
/// joined to the head's new row, so when the head is elsewhere nothing is
/// written and the statement reports it: a conflict.
pub(crate) async fn append_tenant_postgres(conn: &mut sqlx::PgConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
    /// Raised by `gatehouse_access_log_append` when the head moved elsewhere.
    const HEAD_MOVED: &str = "GH409";
    let records = &batch.records[..];
    let (Some((seq, hash)), Some(last)) = (batch.continues(), records.last()) else {
        // Uses with no entries of their tenant: nothing to chain.
        for used in &batch.uses {
            sqlx::query("UPDATE credentials SET used_at = $3 WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL")
                .bind(used.tenant.as_uuid())
                .bind(used.credential.as_uuid())
                .bind(used.at)
                .execute(&mut *conn)
                .await?;
        }
        return record_messages_postgres(conn, batch).await;
    };
    let (prev_seq, prev_hash) = if batch.starts_chain() { (None, None) } else { (Some(seq), Some(&hash[..])) };
    let column = |f: &dyn Fn(&LogRecord) -> Option<&str>| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    let uuids = |f: &dyn Fn(&LogRecord) -> Option<uuid::Uuid>| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    sqlx::query(
        "SELECT gatehouse_access_log_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24)",
    )
    .bind(batch.tenant.as_uuid())
    .bind(last.seq)
    .bind(&last.hash[..])
    .bind(last.at.trunc_subsecs(6))
    .bind(prev_seq)
    .bind(prev_hash)
    .bind(records.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.id.as_uuid()).collect::<Vec<_>>())
    // The hash covers microseconds; both databases keep exactly those.
    .bind(records.iter().map(|r| r.at.trunc_subsecs(6)).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
    .bind(uuids(&|r| r.access_point_id.map(|id| id.as_uuid())))
    .bind(uuids(&|r| r.person_id.map(|id| id.as_uuid())))
    .bind(uuids(&|r| r.credential_id.map(|id| id.as_uuid())))
    .bind(column(&|r| r.credential_kind.as_deref()))
    .bind(column(&|r| r.direction.as_deref()))
    .bind(records.iter().map(|r| r.granted).collect::<Vec<_>>())
    .bind(column(&|r| r.reason.as_deref()))
    .bind(column(&|r| r.door_action.as_deref()))
    .bind(column(&|r| r.rule.as_deref()))
    .bind(column(&|r| r.detail.as_deref()))
    .bind(records.iter().map(|r| &r.prev_hash[..]).collect::<Vec<_>>())
    .bind(records.iter().map(|r| &r.hash[..]).collect::<Vec<_>>())
    .bind(batch.uses.iter().map(|u| u.credential.as_uuid()).collect::<Vec<_>>())
    .bind(batch.uses.iter().map(|u| u.at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(HEAD_MOVED) => StoreError::Conflict { field: "seq" },
        _ => StoreError::on_unique(err, "seq"),
    })?;
    record_messages_postgres(conn, batch).await
}

async fn record_messages_postgres(conn: &mut sqlx::PgConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
    for keys in batch.messages.chunks(MESSAGE_KEYS_PER_STATEMENT) {
        let mut query = insert_message_keys::<sqlx::Postgres>(keys);
        query.build().execute(&mut *conn).await.map_err(|err| StoreError::on_unique(err, "message_id"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_at_most_a_few_statement_shapes() {
        for rows in [0, 1, 2, 3, 37, 1023, 1024, 1025, 5000] {
            let sizes: Vec<usize> = chunk_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows}");
            assert!(
                sizes
                    .iter()
                    .all(|size| (size.is_power_of_two() || *size <= LOG_EXACT_ROWS_MAX) && *size <= LOG_ROWS_PER_STATEMENT),
                "{sizes:?}"
            );
        }
        assert_eq!(chunk_sizes(37).collect::<Vec<_>>(), [37]);
        assert_eq!(chunk_sizes(100).collect::<Vec<_>>(), [64, 32, 4]);
        assert_eq!(chunk_sizes(2049).collect::<Vec<_>>(), [1024, 1024, 1]);
    }
}
