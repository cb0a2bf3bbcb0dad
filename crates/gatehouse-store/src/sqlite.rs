//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so writers queue in
//! process instead of failing with SQLITE_BUSY; reads use a separate pool of
//! read-only connections that WAL lets run beside the writer. The access log's
//! lookups by person and by door live in a side file ([`crate::sqlite_log_index`]),
//! which every reader attaches as `log_index`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use gatehouse_domain::{SiteId, TenantId};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};

use crate::access::AccessLogFilter;
use crate::access_log_sql::{
    append_committed_sqlite, append_tenant_sqlite, fits_one_sqlite_command, push_log_conditions, LogOrder, TenantBatch,
    LOG_COLUMNS,
};
use crate::backend::SqlBackend;
use crate::private_file::{create_private, restrict_to_owner};
use crate::sqlite_log_index::{utf8, LogIndex};
use crate::{migrate, Backend, PoolStats, StoreResult};

/// The instant an access-log entry reports: the device's own (`detail.reported_at`), else `at`.
/// Both are RFC 3339 text, compared as text: `at` as sqlx writes it (`+00:00`, a fraction of
/// 0, 3 or 6 digits as needed), `reported_at` as serde writes it (the same, but `Z`), so its
/// `Z` becomes `+00:00`; '+' sorts before every digit, so a shorter fraction sorts first, as
/// it should. Bound instants are written by sqlx too, so they compare alike.
const REPORTED_AT: &str = "COALESCE(replace(json_extract(l.detail, '$.reported_at'), 'Z', '+00:00'), l.at)";

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    log_index: LogIndex,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path, reader_connections: u32) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        create_private(path);
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed write survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals and sorts in memory rather than in temporary files.
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // A connection to a file cannot drop; a ping before every write is a wasted round trip.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        restrict_to_owner(path);
        let log_index = LogIndex::open(path).await?;
        let side = utf8(log_index.path())?.to_owned();
        let reader = SqlitePoolOptions::new()
            .max_connections(reader_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                let side = side.clone();
                Box::pin(async move {
                    sqlx::query("ATTACH DATABASE ? AS log_index").bind(side).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options.read_only(true));
        Ok(Self { writer, reader, log_index, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Folds every access-log entry committed so far into the log's side index now,
    /// instead of at the background task's next round. Lookups are complete either
    /// way; this is for tests and tools that look at the side file itself.
    pub async fn fold_access_log_index(&self) -> StoreResult<()> {
        self.log_index.fold_now().await
    }
}

/// A writer connection that is closed when dropped unless `done`: a command that
/// opens and commits its own transaction may have left it open.
struct CloseUnlessDone {
    conn: PoolConnection<Sqlite>,
    done: bool,
}

impl Drop for CloseUnlessDone {
    fn drop(&mut self) {
        if !self.done {
            self.conn.close_on_drop();
        }
    }
}

impl SqlBackend for SqliteStore {
    type Db = Sqlite;
    type Read = PoolConnection<Sqlite>;

    const BACKEND: Backend = Backend::Sqlite;

    /// Reads need no transaction here: each read is one statement, and SQLite
    /// gives every statement a consistent snapshot. Skipping BEGIN/COMMIT saves
    /// two round trips to the connection's worker thread.
    async fn read(&self, _tenant: TenantId) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.reader.acquire().await?)
    }

    async fn write(&self, _tenant: TenantId) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }

    /// A read of several statements that must agree with each other (a whole policy):
    /// in a transaction, WAL keeps one snapshot from its first read to its end.
    async fn read_snapshot(&self, _tenant: TenantId) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.reader.begin().await?)
    }

    /// Zone-tree changes are already serialised: SQLite has one writer.
    async fn lock_zone_tree(_conn: &mut SqliteConnection, _tenant: TenantId, _site: SiteId) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to switch: SQLite has no row-level security (every statement filters by tenant).
    async fn enter_tenant(_conn: &mut SqliteConnection, _tenant: TenantId) -> StoreResult<()> {
        Ok(())
    }

    /// SQLite keeps the log in one table: nothing to prepare.
    async fn prepare_log(&self, _now: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
        Ok(())
    }

    /// The usual batch (one tenant, one INSERT's worth) is one command to the
    /// writer connection's thread, BEGIN to COMMIT; if it fails, or is dropped
    /// half-way, the connection is closed rather than returned to the pool with
    /// its transaction open. Any other batch: BEGIN, one command per tenant (more
    /// for batches past the common size or with single-use credentials), COMMIT.
    async fn append_log(&self, batches: &[TenantBatch<'_>]) -> StoreResult<()> {
        if let [batch] = batches {
            if fits_one_sqlite_command(batch) {
                let mut conn = CloseUnlessDone { conn: self.writer.acquire().await?, done: false };
                let appended = append_committed_sqlite(&mut conn.conn, batch).await;
                conn.done = appended.is_ok();
                return appended;
            }
        }
        let mut tx = self.writer.begin().await?;
        for batch in batches {
            append_tenant_sqlite(&mut tx, batch).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One tenant's log, up to its ORDER BY. Filtered by person or by access point, it is the
    /// entries the side index holds (joined to the log by `(tenant_id, seq)`) and the
    /// log's entries past the index's watermark, merged in `seq` order by the caller's ORDER BY.
    async fn append_tenant(conn: &mut SqliteConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
        append_tenant_sqlite(conn, batch).await
    }

    fn log_list_query(tenant: TenantId, filter: &AccessLogFilter, order: LogOrder) -> QueryBuilder<'static, Sqlite> {
        // Both halves of the side-index union select the same columns, so the caller's
        // ORDER BY can name `reported_key`.
        let key = if matches!(order, LogOrder::Reported(_)) { format!(", {REPORTED_AT} AS reported_key") } else { String::new() };
        let columns = |seq_from: &str| {
            let column = |name: &str| if name == "seq" { format!("{seq_from}.seq AS seq") } else { format!("l.{name}") };
            format!("{}{key}", LOG_COLUMNS.split(", ").map(column).collect::<Vec<_>>().join(", "))
        };
        let lookup = filter
            .person_id
            .map(|id| ("log_by_person", "person_id", id.as_uuid()))
            .or_else(|| filter.access_point_id.map(|id| ("log_by_access_point", "access_point_id", id.as_uuid())));
        let mut query = QueryBuilder::new("");
        match lookup {
            None => {
                query.push(format!("SELECT {} FROM access_log AS l WHERE l.tenant_id = ", columns("l")));
                query.push_bind(tenant.as_uuid());
                push_log_conditions(&mut query, "l.", REPORTED_AT, filter, order);
            }
            Some((side_table, column, id)) => {
                // CROSS JOIN: SQLite then always walks the side index first, in its key
                // order (so in `seq` order, with no sort), and finds each entry by its key.
                query.push(format!(
                    "SELECT {} FROM log_index.{side_table} AS x CROSS JOIN access_log AS l \
                     WHERE l.tenant_id = x.tenant_id AND l.seq = x.seq AND x.tenant_id = ",
                    columns("x")
                ));
                query.push_bind(tenant.as_uuid()).push(format!(" AND x.{column} = ")).push_bind(id);
                if let Some(after) = order.after_seq() {
                    query.push(" AND x.seq > ").push_bind(after);
                }
                push_log_conditions(&mut query, "l.", REPORTED_AT, filter, order);
                // `+` keeps the planner off the log's indexes: the scan starts at the watermark.
                query.push(format!(
                    " UNION ALL SELECT {} FROM access_log AS l \
                     WHERE l.rowid > (SELECT log_rowid FROM log_index.folded) AND +l.tenant_id = ",
                    columns("l")
                ));
                query.push_bind(tenant.as_uuid());
                push_log_conditions(&mut query, "l.", REPORTED_AT, filter, order);
            }
        }
        query
    }

    async fn read_platform(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.reader.acquire().await?)
    }

    async fn write_platform(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }

    async fn apply_migrations(&self) -> StoreResult<usize> {
        let pending = self.unapplied_migrations().await?;
        migrate::migrator(Backend::Sqlite).run(&self.writer).await?;
        Ok(pending)
    }

    async fn unapplied_migrations(&self) -> StoreResult<usize> {
        let applied: Vec<(i64,)> =
            match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.writer).await {
                Ok(rows) => rows,
                Err(sqlx::Error::Database(err)) if err.message().contains("no such table") => Vec::new(),
                Err(err) => return Err(err.into()),
            };
        Ok(migrate::count(Backend::Sqlite).saturating_sub(applied.len()))
    }

    fn connection_stats(&self) -> PoolStats {
        PoolStats {
            connections: self.writer.size() + self.reader.size(),
            idle_connections: u32::try_from(self.writer.num_idle() + self.reader.num_idle()).unwrap_or(u32::MAX),
            max_connections: 1 + self.reader.options().get_max_connections(),
        }
    }

    async fn close_pools(&self) {
        self.reader.close().await;
        self.log_index.close().await;
        // Fold the WAL back into the main file so a copied database file is complete.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        self.writer.close().await;
    }
}

/// The shared SQL, compiled for this engine (and again, by design, for the other).
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;

/// The store the shared SQL implements its traits for.
type This = SqliteStore;
