//! The SQLite access log's lookups by person and by access point, kept in a side
//! file next to the database (`gatehouse.db-log-index`) and folded in from the log
//! in the background.
//!
//! Why a side file: in the log's own file, an index keyed by person or by door puts
//! each new entry on a page of its own, so a group commit of 30 entries wrote about
//! 85 pages where the entries themselves fill a few, and the log took half as many
//! decisions a second. Here a second's entries are folded in at once, by a task of
//! their own, into a file the decision path never waits for:
//!
//! - The side file holds `(tenant_id, person_id, seq)` and `(tenant_id,
//!   access_point_id, seq)` for every log entry up to a watermark: the rowid of the
//!   last entry folded in, with that entry's `(tenant_id, seq, hash)` as its fingerprint.
//! - Readers attach it as `log_index`. A lookup reads it up to the watermark and the
//!   log itself past it (a few rows: the indexer runs every [`FOLD_INTERVAL`]), so a
//!   list holds an entry from the moment it is committed.
//! - It only ever holds what can be derived from the log. A side file that cannot be
//!   opened, or whose fingerprint does not match the log (a restored backup, a copied
//!   database), is emptied and rebuilt from the log.
//! - It is written without syncing (`synchronous=OFF`): its fsyncs competed with the
//!   log's own commits for the disk, and were the slowest 0.1 % of decisions. What
//!   was written is safe from a crash of the process (the OS holds it), not from a
//!   crash of the machine. So the file is marked with the boot id of the machine that
//!   writes it (durably, in the file itself, before any unsynced write), and a file
//!   marked in another boot is emptied and rebuilt. That happens after every restart
//!   of the machine, clean or not: the index is rebuilt in the background (a few
//!   microseconds per entry) while lookups read the log itself past the watermark,
//!   slower until it catches up. Clearing the mark at a clean close would be wrong
//!   while another process (a CLI command) may still write the file unsynced.
//!   Not covered: writes lost without a restart (a disk detached and reattached, a
//!   VM disk snapshot restored in place). Where there is no boot id (not Linux),
//!   the file is written with `synchronous=NORMAL` and a marked file is rebuilt.
//! - The fold runs on a thread of lower priority ([`FOLD_NICE`]): measured, it took
//!   one of two cores for ~200 ms each second, and decisions waited behind it.
//!
//! Log rowids only grow: entries are never deleted (triggers refuse it), and SQLite
//! gives each new row the largest rowid plus one.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqliteConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::private_file::{companion, create_private, restrict_to_owner, WITH_COMPANIONS};
use crate::StoreResult;

/// How often new log entries are folded into the side file. Longer rounds write
/// fewer pages per entry (a round touches each person's last page once); lookups
/// read the log itself for the entries of at most about this long.
pub(crate) const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// The name of the side file's SQLite worker thread, the one that folds.
const FOLD_THREAD: &str = "gh-log-index";

/// The fold thread's niceness: a round takes one of the machine's cores for a
/// moment each second, and decisions waiting for their answer come first.
/// The fold catches up when the machine is less busy; lookups are complete anyway.
#[cfg(target_os = "linux")]
const FOLD_NICE: i32 = 10;

/// Most log entries folded in one round (one transaction): bounds a catch-up's
/// transactions on a large log.
const ROUND_ENTRIES: i64 = 100_000;

/// The schema version of the side file (`PRAGMA user_version`); a file of another
/// version is rebuilt.
const SIDE_VERSION: i64 = 3;

const SIDE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS log_by_person (
        tenant_id BLOB NOT NULL,
        person_id BLOB NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, person_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS log_by_access_point (
        tenant_id       BLOB NOT NULL,
        access_point_id BLOB NOT NULL,
        seq             INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, access_point_id, seq)
    ) WITHOUT ROWID;
    -- The watermark: every log entry up to log_rowid is folded in, and none after.
    CREATE TABLE IF NOT EXISTS folded (
        only      INTEGER PRIMARY KEY CHECK (only = 1),
        log_rowid INTEGER NOT NULL,
        tenant_id BLOB,
        seq       INTEGER,
        hash      BLOB
    );
    -- The boot id of the machine that writes the file without syncing it. Written
    -- only with syncs, and on a page of its own that unsynced writes never touch.
    CREATE TABLE IF NOT EXISTS unsynced_in (
        only INTEGER PRIMARY KEY CHECK (only = 1),
        boot TEXT NOT NULL
    );
    INSERT OR IGNORE INTO folded (only, log_rowid) VALUES (1, 0);
";

/// The side file of one database, and the task that keeps it up to date.
pub(crate) struct LogIndex {
    pool: SqlitePool,
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl LogIndex {
    /// The side file's path for the database at `database`.
    pub(crate) fn path_for(database: &Path) -> PathBuf {
        companion(database, "-log-index")
    }

    /// Opens (creating or, if unreadable, recreating) the side file of the database
    /// at `database`, and starts folding the log into it.
    pub(crate) async fn open(database: &Path) -> StoreResult<Self> {
        Self::open_in_boot(database, boot_id()).await
    }

    /// [`LogIndex::open`] on the machine boot `boot` (none: write with syncs).
    async fn open_in_boot(database: &Path, boot: Option<String>) -> StoreResult<Self> {
        let path = Self::path_for(database);
        create_private(&path);
        let pool = match open_side(&path, database, boot.as_deref()).await {
            Ok(pool) => pool,
            // Only a damaged file is thrown away: any other failure (a busy or
            // unwritable file) is reported, and the file is left as it is.
            Err(err) if is_damage(&err) => {
                tracing::warn!(path = %path.display(), error = %err, "the access log's index file is damaged; rebuilding it");
                remove_side(&path);
                create_private(&path);
                open_side(&path, database, boot.as_deref()).await?
            }
            Err(err) => return Err(err),
        };
        let (stop, stopped) = watch::channel(false);
        restrict_to_owner(&path);
        let task = tokio::spawn(keep_folding(pool.clone(), stopped));
        Ok(Self { pool, path, stop, task: Mutex::new(Some(task)) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Folds every entry committed so far into the side file, now.
    pub(crate) async fn fold_now(&self) -> StoreResult<()> {
        while fold_round(&self.pool).await? {}
        Ok(())
    }

    /// Stops the task (after the round it is in), checkpoints the side file and closes it.
    pub(crate) async fn close(&self) {
        self.stop_folding().await;
        let _ = sqlx::raw_sql("PRAGMA main.synchronous = FULL; PRAGMA main.wal_checkpoint(TRUNCATE)").execute(&self.pool).await;
        self.pool.close().await;
    }
}

impl LogIndex {
    /// Stops the task, after the round it is in.
    async fn stop_folding(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut slot| slot.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Marks the side file as written without syncing in `boot`, durably in the file
/// itself (not only in its WAL, which a later unsynced checkpoint may start over),
/// then turns syncing off. Leaves syncing on if the mark could not be checkpointed
/// into the file (another process is reading it).
async fn write_unsynced(pool: &SqlitePool, path: &Path, boot: &str) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA main.synchronous = FULL").execute(&mut *conn).await?;
    sqlx::query("INSERT INTO main.unsynced_in (only, boot) VALUES (1, ?) ON CONFLICT (only) DO UPDATE SET boot = excluded.boot")
        .bind(boot)
        .execute(&mut *conn)
        .await?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA main.wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
    if busy == 0 {
        sync_files(path)?;
        sqlx::query("PRAGMA main.synchronous = OFF").execute(&mut *conn).await?;
    } else {
        sqlx::query("PRAGMA main.synchronous = NORMAL").execute(&mut *conn).await?;
    }
    Ok(())
}

/// fsyncs the side file and its WAL, whatever SQLite's own syncs did.
fn sync_files(path: &Path) -> StoreResult<()> {
    for suffix in ["", "-wal"] {
        match std::fs::File::open(companion(path, suffix)) {
            Ok(file) => file.sync_all().map_err(sqlx::Error::Io)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(err) => return Err(sqlx::Error::Io(err).into()),
        }
    }
    Ok(())
}

/// This boot of the machine, if the OS names it (Linux does).
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

/// One connection to the side file, with the log's database attached as `log`.
async fn open_side(path: &Path, database: &Path, boot: Option<&str>) -> StoreResult<SqlitePool> {
    let database = utf8(database)?.to_owned();
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // A round rewrites most leaves of a large index: larger pages are fewer frames
        // to write, and a cache that holds the hot leaves saves reading them back.
        .page_size(16384)
        .thread_name(|_| FOLD_THREAD.to_owned())
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory")
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // Read-only readers of a WAL file need a connection that keeps its -shm alive.
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            let database = database.clone();
            Box::pin(async move {
                sqlx::query("ATTACH DATABASE ? AS log").bind(database).execute(conn).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    match prepare_side(&pool, path, boot).await {
        Ok(()) => Ok(pool),
        Err(err) => {
            // Closed before the caller removes anything: a connection closed later, on
            // its own thread, could remove a new file's WAL by name.
            pool.close().await;
            Err(err)
        }
    }
}

/// Brings the side file's tables to [`SIDE_VERSION`], checks its pages and whether
/// its contents can be trusted (emptying it if not), and marks it for this boot.
async fn prepare_side(pool: &SqlitePool, path: &Path, boot: Option<&str>) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    let version: i64 = sqlx::query_scalar("PRAGMA main.user_version").fetch_one(&mut *conn).await?;
    if version != SIDE_VERSION {
        if version != 0 {
            tracing::info!(path = %path.display(), version, "the access log's index file is of another version; rebuilding it");
        }
        sqlx::raw_sql(
            "DROP TABLE IF EXISTS main.log_by_person; DROP TABLE IF EXISTS main.log_by_access_point; \
             DROP TABLE IF EXISTS main.folded; DROP TABLE IF EXISTS main.unsynced_in;",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::raw_sql(SIDE_SCHEMA).execute(&mut *conn).await?;
        sqlx::raw_sql(&format!("PRAGMA main.user_version = {SIDE_VERSION}")).execute(&mut *conn).await?;
    }
    // Any page of a damaged file is read by this check, not later by a lookup.
    let check: String = sqlx::query_scalar("PRAGMA main.quick_check(1)").fetch_one(&mut *conn).await?;
    if check != "ok" {
        return Err(crate::StoreError::Corrupt(format!("{}: {check}", path.display())));
    }
    drop(conn);
    // Before any reader attaches it: a side file of another log, or one written
    // without syncs in another boot of the machine, must not answer a lookup.
    let mut tx = begin_side_write(pool).await?;
    let written_in: Option<String> = sqlx::query_scalar("SELECT boot FROM main.unsynced_in").fetch_optional(&mut *tx).await?;
    if written_in.is_some_and(|written_in| Some(written_in.as_str()) != boot) {
        tracing::info!(path = %path.display(), "the access log's index was written without syncs in an earlier boot of the machine; rebuilding it");
        empty_side(&mut tx).await?;
    }
    match reset_unless_matching(&mut tx).await {
        Ok(_) => {}
        // A database not migrated yet has no log, so nothing the side file holds is its.
        Err(err) if before_migration(&err) => empty_side(&mut tx).await?,
        Err(err) => return Err(err),
    }
    tx.commit().await?;
    if let Some(boot) = boot {
        write_unsynced(pool, path, boot).await?;
    }
    Ok(())
}

/// Whether opening failed because the file is not a sound database.
fn is_damage(err: &crate::StoreError) -> bool {
    match err {
        crate::StoreError::Corrupt(_) => true,
        // SQLITE_CORRUPT and SQLITE_NOTADB, with or without an extended code.
        crate::StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff), Some(11 | 26))
        }
        _ => false,
    }
}

fn remove_side(path: &Path) {
    for suffix in WITH_COMPANIONS {
        let _ = std::fs::remove_file(companion(path, suffix));
    }
}

/// Whether `err` says the log has no table yet: the database is not migrated.
fn before_migration(err: &crate::StoreError) -> bool {
    err.to_string().contains("no such table")
}

/// The path as SQLite's `ATTACH` takes it.
pub(crate) fn utf8(path: &Path) -> StoreResult<&str> {
    path.to_str()
        .ok_or_else(|| crate::StoreError::Corrupt(format!("{}: the database path must be valid UTF-8", path.to_string_lossy())))
}

/// Folds the log in every [`FOLD_INTERVAL`] while it has entries past the watermark
/// (whichever process wrote them), and at once, round after round, while catching
/// up, until the store is closed or dropped.
async fn keep_folding(pool: SqlitePool, mut stopped: watch::Receiver<bool>) {
    let mut catching_up = true;
    let mut failing = false;
    lower_fold_priority();
    loop {
        // An error here means the store was dropped without being closed.
        if *stopped.borrow() || stopped.has_changed().is_err() {
            return;
        }
        if !catching_up {
            tokio::select! {
                changed = stopped.changed() => if changed.is_err() || *stopped.borrow() { return },
                () = tokio::time::sleep(FOLD_INTERVAL) => {}
            }
        }
        let folded = match behind(&pool).await {
            Ok(false) => Ok(false),
            Ok(true) => fold_round(&pool).await,
            Err(err) => Err(err),
        };
        match folded {
            Ok(more) => {
                if failing {
                    tracing::info!("the access log's index is being folded again");
                    // The connection may be a new one, on a new thread.
                    lower_fold_priority();
                }
                (catching_up, failing) = (more, false);
            }
            Err(err) => {
                // Before the first migration the log has no table yet: quietly try again.
                if !failing && !before_migration(&err) {
                    tracing::warn!(error = %err, "cannot fold the access log into its index; retrying");
                }
                (catching_up, failing) = (false, true);
            }
        }
    }
}

/// Gives every fold thread of this process [`FOLD_NICE`] (a thread may lower its own
/// process's priority without privileges; on Linux, priority is per thread).
fn lower_fold_priority() {
    #[cfg(target_os = "linux")]
    {
        let Ok(threads) = std::fs::read_dir("/proc/self/task") else { return };
        for thread in threads.flatten() {
            let named = std::fs::read_to_string(thread.path().join("comm")).is_ok_and(|name| name.trim_end() == FOLD_THREAD);
            let id = thread.file_name().to_str().and_then(|id| id.parse().ok()).and_then(rustix::process::Pid::from_raw);
            if let (true, Some(id)) = (named, id) {
                if let Err(err) = rustix::process::setpriority_process(Some(id), FOLD_NICE) {
                    tracing::debug!(error = %err, "cannot lower the priority of the access log's fold");
                }
            }
        }
    }
}

/// Whether the log has entries past the watermark: a read, so an idle log costs
/// the side file no write.
async fn behind(pool: &SqlitePool) -> StoreResult<bool> {
    let behind: Option<bool> =
        sqlx::query_scalar("SELECT (SELECT max(rowid) FROM log.access_log) > (SELECT log_rowid FROM main.folded)")
            .fetch_one(pool)
            .await?;
    Ok(behind.unwrap_or(false))
}

/// One round: in one transaction of the side file, checks that its watermark still
/// names the same log entry (else empties it), then folds in up to
/// [`ROUND_ENTRIES`] entries past it. Returns whether more are waiting.
async fn fold_round(pool: &SqlitePool) -> StoreResult<bool> {
    let started = std::time::Instant::now();
    let mut tx = begin_side_write(pool).await?;
    let from = reset_unless_matching(&mut tx).await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT max(rowid) FROM log.access_log").fetch_one(&mut *tx).await?;
    let Some(newest) = newest.filter(|newest| *newest > from) else {
        tx.commit().await?;
        return Ok(false);
    };
    let upto = newest.min(from.saturating_add(ROUND_ENTRIES));
    // In key order, so each page of the index is written once per round.
    for (table, column) in [("log_by_person", "person_id"), ("log_by_access_point", "access_point_id")] {
        sqlx::query(&format!(
            "INSERT INTO main.{table} (tenant_id, {column}, seq) \
             SELECT tenant_id, {column}, seq FROM log.access_log \
             WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL ORDER BY 1, 2, 3"
        ))
        .bind(from)
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE main.folded SET (log_rowid, tenant_id, seq, hash) = \
         (SELECT rowid, tenant_id, seq, hash FROM log.access_log WHERE rowid <= ? ORDER BY rowid DESC LIMIT 1)",
    )
    .bind(upto)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::debug!(from, upto, took_ms = started.elapsed().as_secs_f64() * 1e3, "folded access-log entries into the index");
    Ok(upto < newest)
}

/// A transaction that holds the side file's write lock from its start, and only
/// that one: `BEGIN IMMEDIATE` would take the write lock of every attached
/// database, the log's too, and stop the log's writer for the whole round.
async fn begin_side_write(pool: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE main.folded SET log_rowid = log_rowid").execute(&mut *tx).await?;
    Ok(tx)
}

/// The watermark, after emptying the side file if the log entry the watermark names
/// is not the one folded in last: the side file belongs to another log.
async fn reset_unless_matching(conn: &mut SqliteConnection) -> StoreResult<i64> {
    if let Some(watermark) = matching_watermark(&mut *conn).await? {
        return Ok(watermark);
    }
    tracing::warn!("the access log's index does not match the log (a restored or copied database?); rebuilding it");
    empty_side(conn).await?;
    Ok(0)
}

/// Empties the side file: nothing folded in, the watermark before the first entry.
async fn empty_side(conn: &mut SqliteConnection) -> StoreResult<()> {
    for statement in [
        "DELETE FROM main.log_by_person",
        "DELETE FROM main.log_by_access_point",
        "UPDATE main.folded SET log_rowid = 0, tenant_id = NULL, seq = NULL, hash = NULL",
    ] {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The watermark, if the log entry it names is still the one folded in last.
async fn matching_watermark(conn: &mut SqliteConnection) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT f.log_rowid, f.log_rowid = 0 OR EXISTS (SELECT 1 FROM log.access_log AS l \
         WHERE l.rowid = f.log_rowid AND l.tenant_id = f.tenant_id AND l.seq = f.seq AND l.hash = f.hash) AS matches \
         FROM main.folded AS f",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<bool, _>("matches")?.then_some(row.try_get("log_rowid")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    use gatehouse_testkit::TestDatabase;

    /// A database with just enough of an access log for the side file to attach; its
    /// directory goes when the returned [`TestDatabase`] is dropped.
    async fn log_database() -> (TestDatabase, PathBuf) {
        let db = TestDatabase::sqlite();
        let Ok(crate::DatabaseUrl::Sqlite(database)) = db.url_string().parse() else { unreachable!("a SQLite database") };
        let options =
            SqliteConnectOptions::new().filename(&database).create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::raw_sql("CREATE TABLE access_log (tenant_id BLOB, seq INTEGER, hash BLOB, person_id BLOB, access_point_id BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        (db, database)
    }

    async fn indexed_rows(index: &LogIndex) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM main.log_by_person").fetch_one(&index.pool).await.unwrap()
    }

    async fn add_row(index: &LogIndex) {
        sqlx::query("INSERT INTO main.log_by_person (tenant_id, person_id, seq) VALUES (x'01', x'02', ?)")
            .bind(indexed_rows(index).await + 1)
            .execute(&index.pool)
            .await
            .unwrap();
    }

    /// `PRAGMA synchronous` of the side file's connection: 0 OFF, 1 NORMAL, 2 FULL.
    async fn synchronous(index: &LogIndex) -> i64 {
        sqlx::query_scalar("PRAGMA main.synchronous").fetch_one(&index.pool).await.unwrap()
    }

    /// Stops like a killed process would: no checkpoint and no sync of its own.
    async fn kill(index: LogIndex) {
        index.stop_folding().await;
        index.pool.close().await;
    }

    #[tokio::test]
    async fn a_side_file_written_unsynced_is_rebuilt_after_the_machine_restarts_only() {
        let (_db, database) = log_database().await;

        let index = LogIndex::open_in_boot(&database, Some("boot-a".to_owned())).await.unwrap();
        assert_eq!(synchronous(&index).await, 0, "written without syncs once marked");
        let marked: Option<String> =
            sqlx::query_scalar("SELECT boot FROM main.unsynced_in").fetch_optional(&index.pool).await.unwrap();
        assert_eq!(marked.as_deref(), Some("boot-a"));
        let wal = std::fs::metadata(companion(&index.path, "-wal")).map(|wal| wal.len()).unwrap_or(0);
        assert_eq!(wal, 0, "the mark is in the file itself, not only in its WAL");
        add_row(&index).await;
        kill(index).await;

        // The process died, the machine did not: the OS still has every write.
        let index = LogIndex::open_in_boot(&database, Some("boot-a".to_owned())).await.unwrap();
        assert_eq!(indexed_rows(&index).await, 1);
        kill(index).await;

        // The machine restarted: what was written unsynced may be torn, so it is all dropped.
        let index = LogIndex::open_in_boot(&database, Some("boot-b".to_owned())).await.unwrap();
        assert_eq!(indexed_rows(&index).await, 0);
        add_row(&index).await;
        index.close().await;

        // Without a boot id the file is written with syncs, and a marked file is not trusted.
        let index = LogIndex::open_in_boot(&database, None).await.unwrap();
        assert_eq!(indexed_rows(&index).await, 0);
        assert_eq!(synchronous(&index).await, 1, "NORMAL");
        index.close().await;
    }

    #[tokio::test]
    async fn a_side_file_whose_mark_cannot_reach_the_file_keeps_its_syncs() {
        let (_db, database) = log_database().await;
        let index = LogIndex::open_in_boot(&database, Some("boot-a".to_owned())).await.unwrap();
        add_row(&index).await;
        let side = index.path.clone();

        // Another process reads the file: a checkpoint cannot finish while it does.
        let options = SqliteConnectOptions::new().filename(&side).read_only(true);
        let mut reader: SqliteConnection = sqlx::Connection::connect_with(&options).await.unwrap();
        let mut reading = sqlx::Connection::begin(&mut reader).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM log_by_person").fetch_one(&mut *reading).await.unwrap();
        assert_eq!(rows, 1);
        add_row(&index).await;
        let second = LogIndex::open_in_boot(&database, Some("boot-a".to_owned())).await.unwrap();
        assert_eq!(synchronous(&second).await, 1, "NORMAL while the mark is only in the WAL");
        assert_eq!(indexed_rows(&second).await, 2, "same boot: nothing was dropped");
        reading.rollback().await.unwrap();
        second.close().await;
        index.close().await;
    }
}
