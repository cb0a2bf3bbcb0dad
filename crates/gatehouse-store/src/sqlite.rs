//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so writers queue in
//! process instead of failing with SQLITE_BUSY; reads use a separate pool of
//! read-only connections that WAL lets run beside the writer.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use gatehouse_domain::{SiteId, TenantId};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::access_log_sql::{append_committed_sqlite, append_tenant_sqlite, fits_one_sqlite_command, TenantBatch};
use crate::{migrate, Backend, PoolStats, StoreResult};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    pub(crate) const BACKEND: Backend = Backend::Sqlite;

    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path, reader_connections: u32) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
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
        let reader = SqlitePoolOptions::new()
            .max_connections(reader_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.read_only(true));
        Ok(Self { writer, reader, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads need no transaction here: each read is one statement, and SQLite
    /// gives every statement a consistent snapshot. Skipping BEGIN/COMMIT saves
    /// two round trips to the connection's worker thread.
    pub(crate) async fn read(&self, _tenant: TenantId) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.reader.acquire().await?)
    }

    pub(crate) async fn write(&self, _tenant: TenantId) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }

    /// A read of several statements that must agree with each other (a whole policy):
    /// in a transaction, WAL keeps one snapshot from its first read to its end.
    pub(crate) async fn read_snapshot(&self, _tenant: TenantId) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.reader.begin().await?)
    }

    /// Zone-tree changes are already serialised: SQLite has one writer.
    pub(crate) async fn lock_zone_tree(_conn: &mut SqliteConnection, _tenant: TenantId, _site: SiteId) -> StoreResult<()> {
        Ok(())
    }

    /// SQLite keeps the log in one table: nothing to prepare.
    pub(crate) async fn access_log_prepare_impl(&self, _now: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
        Ok(())
    }

    /// The usual batch (one tenant, one INSERT's worth) is one command to the
    /// writer connection's thread, BEGIN to COMMIT; if it fails, or is dropped
    /// half-way, the connection is closed rather than returned to the pool with
    /// its transaction open. Any other batch: BEGIN, one command per tenant (more
    /// for batches past the common size or with single-use credentials), COMMIT.
    pub(crate) async fn access_log_append_impl(&self, batches: &[TenantBatch<'_>]) -> StoreResult<()> {
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

    pub(crate) async fn read_platform(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(self.reader.acquire().await?)
    }

    pub(crate) async fn write_platform(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }

    pub(crate) async fn migrate_impl(&self) -> StoreResult<usize> {
        let pending = self.pending_migrations_impl().await?;
        migrate::migrator(Backend::Sqlite).run(&self.writer).await?;
        Ok(pending)
    }

    pub(crate) async fn pending_migrations_impl(&self) -> StoreResult<usize> {
        let applied: Vec<(i64,)> =
            match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.writer).await {
                Ok(rows) => rows,
                Err(sqlx::Error::Database(err)) if err.message().contains("no such table") => Vec::new(),
                Err(err) => return Err(err.into()),
            };
        Ok(migrate::count(Backend::Sqlite).saturating_sub(applied.len()))
    }

    pub(crate) fn pool_stats_impl(&self) -> PoolStats {
        PoolStats {
            connections: self.writer.size() + self.reader.size(),
            idle_connections: u32::try_from(self.writer.num_idle() + self.reader.num_idle()).unwrap_or(u32::MAX),
            max_connections: 1 + self.reader.options().get_max_connections(),
        }
    }

    pub(crate) async fn close_impl(&self) {
        self.reader.close().await;
        // Fold the WAL back into the main file so a copied database file is complete.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        self.writer.close().await;
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

/// The database holds password hashes and sealed keys: only its owner may read it.
/// SQLite gives the WAL and shared-memory files the same permissions.
fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %err, "cannot make the database file private");
        }
    }
}

crate::sql::sql_store!(crate::SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
