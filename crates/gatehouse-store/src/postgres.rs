//! The scale-out backend: PostgreSQL with row-level security.
//!
//! Migrations run over a connection as the configured user (who owns the tables);
//! every pooled connection then switches to the role [`POSTGRES_APP_ROLE`], which
//! row-level security applies to, and each transaction on tenant data sets
//! `gatehouse.tenant_id` so the database itself hides other tenants' rows.

use std::time::Duration;

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
use gatehouse_domain::{SiteId, TenantId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, QueryBuilder, Transaction};

use crate::access::AccessLogFilter;
use crate::access_log_sql::{append_tenant_postgres, push_log_conditions, LogOrder, TenantBatch, LOG_COLUMNS};
use crate::backend::SqlBackend;
use crate::{migrate, Backend, PoolStats, StoreError, StoreResult, POSTGRES_APP_ROLE};

/// The instant an access-log entry reports: the device's own (`detail.reported_at`), else `at`.
const REPORTED_AT: &str = "COALESCE((detail::jsonb ->> 'reported_at')::timestamptz, at)";

/// Months of access-log partitions made ready whenever migrations run (at every
/// start of the server): the current month (by the database's clock, in UTC) and the next two.
pub const ACCESS_LOG_PARTITION_MONTHS: u32 = 3;

/// What [`PostgresStore::ensure_access_log_partitions`] found or did for one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionOutcome {
    Created,
    Existed,
    /// Not created: the default partition already holds rows of that month (logged as a warning).
    Skipped,
}

pub struct PostgresStore {
    pool: PgPool,
    owner_options: PgConnectOptions,
    /// The access log's own connection (out of the pool): see [`LogConnection`].
    log: tokio::sync::Mutex<Option<LogConnection>>,
}

/// A connection kept for access-log appends, so that a one-tenant batch is one
/// statement in autocommit: one round trip. It acts in `tenant` for the whole
/// session (`gatehouse.tenant_id` set with `is_local = false`), which is why it
/// never goes back to the pool, where a platform read would find that tenant set.
struct LogConnection {
    conn: PgConnection,
    tenant: Option<TenantId>,
}

impl PostgresStore {
    /// Connects lazily: the pool's connections run as [`POSTGRES_APP_ROLE`].
    pub async fn open(options: PgConnectOptions, max_connections: u32) -> StoreResult<Self> {
        // Fail at start, with the server's own message, if the database is unreachable.
        PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(format!("SET ROLE {POSTGRES_APP_ROLE}").as_str()).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(Self { pool, owner_options: options, log: tokio::sync::Mutex::new(None) })
    }

    /// Creates the monthly access-log partitions `access_log_YYYY_MM` (UTC months)
    /// for the month holding `from` and the `months - 1` after it, as the owner,
    /// unless they exist. A month whose rows already went to the default partition
    /// is skipped with a warning. Migrating does this for [`ACCESS_LOG_PARTITION_MONTHS`]
    /// from the database's current month; a server running for months should call
    /// it periodically (say daily) so that new months never start in the default partition.
    pub async fn ensure_access_log_partitions(
        &self,
        from: DateTime<Utc>,
        months: u32,
    ) -> StoreResult<Vec<(String, PartitionOutcome)>> {
        let mut owner = PgConnection::connect_with(&self.owner_options).await?;
        let outcome = ensure_partitions(&mut owner, from, months).await;
        owner.close().await?;
        outcome
    }
}

async fn append_on(log: &mut LogConnection, batches: &[TenantBatch<'_>]) -> StoreResult<()> {
    if let [batch] = batches {
        // One statement in autocommit only when it is the whole batch.
        if !batch.records.is_empty() && batch.messages.is_empty() {
            if log.tenant != Some(batch.tenant) {
                log.tenant = None;
                sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, false)")
                    .bind(batch.tenant.to_string())
                    .execute(&mut log.conn)
                    .await?;
                log.tenant = Some(batch.tenant);
            }
            return append_tenant_postgres(&mut log.conn, batch).await;
        }
    }
    let mut tx = log.conn.begin().await?;
    for batch in batches {
        PostgresStore::enter_tenant(&mut tx, batch.tenant).await?;
        append_tenant_postgres(&mut tx, batch).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The access-log partitions of the database's current month and the next ones.
async fn ensure_current_partitions(owner: &PgPool) -> StoreResult<()> {
    let mut conn = owner.acquire().await?;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut *conn).await?;
    ensure_partitions(&mut conn, now, ACCESS_LOG_PARTITION_MONTHS).await?;
    Ok(())
}

async fn ensure_partitions(
    owner: &mut PgConnection,
    from: DateTime<Utc>,
    months: u32,
) -> StoreResult<Vec<(String, PartitionOutcome)>> {
    let first = NaiveDate::from_ymd_opt(from.year(), from.month(), 1)
        .ok_or_else(|| StoreError::Corrupt(format!("no month starts before {from}")))?;
    let mut outcomes = Vec::with_capacity(months as usize);
    for ahead in 0..months {
        let Some(month) = first.checked_add_months(Months::new(ahead)) else { break };
        let name = format!("access_log_{}", month.format("%Y_%m"));
        let outcome: String =
            sqlx::query_scalar("SELECT gatehouse_access_log_partition($1)").bind(month).fetch_one(&mut *owner).await?;
        let outcome = match outcome.as_str() {
            "created" => PartitionOutcome::Created,
            "exists" => PartitionOutcome::Existed,
            _ => {
                tracing::warn!(
                    partition = %name,
                    "access-log partition not created: the default partition already holds rows of that month"
                );
                PartitionOutcome::Skipped
            }
        };
        outcomes.push((name, outcome));
    }
    Ok(outcomes)
}

/// Versions recorded as applied; none when the migration table doesn't exist yet.
async fn applied_versions(pool: &PgPool) -> StoreResult<Vec<i64>> {
    match sqlx::query_as::<_, (i64,)>("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await {
        Ok(rows) => Ok(rows.into_iter().map(|(version,)| version).collect()),
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P01") => Ok(Vec::new()),
        Err(err) => Err(err.into()),
    }
}

fn pending_count(applied: &[i64]) -> usize {
    let latest = migrate::latest_version(Backend::Postgres);
    let applied_known = applied.iter().filter(|version| **version <= latest).count();
    migrate::count(Backend::Postgres).saturating_sub(applied_known)
}

impl SqlBackend for PostgresStore {
    type Db = Postgres;
    type Read = Transaction<'static, Postgres>;

    const BACKEND: Backend = Backend::Postgres;

    async fn read(&self, tenant: TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        self.write(tenant).await
    }

    async fn write(&self, tenant: TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(tenant.to_string()).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// A read of several statements that must agree with each other (a whole policy):
    /// one snapshot for the whole transaction, not one per statement.
    async fn read_snapshot(&self, tenant: TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(tenant.to_string()).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// Serialises changes to one site's zone tree: two concurrent moves (A under B,
    /// B under A) would each pass the cycle check on the tree as it was, so the
    /// check and the move run while holding the site's row lock.
    async fn lock_zone_tree(conn: &mut PgConnection, tenant: TenantId, site: SiteId) -> StoreResult<()> {
        sqlx::query("SELECT id FROM sites WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_uuid())
            .bind(site.as_uuid())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Switches a transaction that spans tenants (an access-log batch) to `tenant`
    /// for row-level security; the statements that follow still filter by it too.
    async fn enter_tenant(conn: &mut PgConnection, tenant: TenantId) -> StoreResult<()> {
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(tenant.to_string()).execute(conn).await?;
        Ok(())
    }

    /// One tenant's log, up to its ORDER BY: its indexes by person and by access point serve the filters.
    async fn append_tenant(conn: &mut PgConnection, batch: &TenantBatch<'_>) -> StoreResult<()> {
        append_tenant_postgres(conn, batch).await
    }

    fn log_list_query(tenant: TenantId, filter: &AccessLogFilter, order: LogOrder) -> QueryBuilder<'static, Postgres> {
        let key = if matches!(order, LogOrder::Reported(_)) { format!(", {REPORTED_AT} AS reported_key") } else { String::new() };
        let mut query = QueryBuilder::new(format!("SELECT {LOG_COLUMNS}{key} FROM access_log WHERE tenant_id = "));
        query.push_bind(tenant.as_uuid());
        push_log_conditions(&mut query, "", REPORTED_AT, filter, order);
        query
    }

    async fn prepare_log(&self, now: DateTime<Utc>) -> StoreResult<()> {
        for (partition, outcome) in self.ensure_access_log_partitions(now, ACCESS_LOG_PARTITION_MONTHS).await? {
            if outcome == PartitionOutcome::Created {
                tracing::info!(%partition, "created an access-log partition");
            }
        }
        Ok(())
    }

    /// A batch of one tenant (the usual case): one statement in autocommit on the
    /// log connection, after switching the session to the tenant if it acted in
    /// another. Several tenants: one transaction, each tenant's statement after
    /// setting the tenant for the rest of that transaction. A connection that
    /// failed for any reason other than a conflict is closed and replaced next time.
    async fn append_log(&self, batches: &[TenantBatch<'_>]) -> StoreResult<()> {
        let mut slot = self.log.lock().await;
        let log = match slot.as_mut() {
            Some(log) => log,
            None => {
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut conn).await?;
                slot.insert(LogConnection { conn, tenant: None })
            }
        };
        let appended = append_on(log, batches).await;
        if let Err(err) = &appended {
            if !matches!(err, StoreError::Conflict { .. }) {
                if let Some(log) = slot.take() {
                    let _ = log.conn.close().await;
                }
            }
        }
        appended
    }

    async fn read_platform(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn write_platform(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn apply_migrations(&self) -> StoreResult<usize> {
        let owner = PgPoolOptions::new().max_connections(1).connect_with(self.owner_options.clone()).await?;
        let pending = match applied_versions(&owner).await {
            Ok(applied) => pending_count(&applied),
            Err(err) => {
                owner.close().await;
                return Err(err);
            }
        };
        // A one-connection pool rather than a bare connection: sqlx's migrator is
        // only `Send` over a pool.
        let applied = match migrate::migrator(Backend::Postgres).run(&owner).await {
            Ok(()) => ensure_current_partitions(&owner).await,
            Err(err) => Err(err.into()),
        };
        owner.close().await;
        applied?;
        Ok(pending)
    }

    /// Asked by readiness probes, so it uses the pool (as the app role, which may
    /// read the migration table) rather than opening an owner connection each time.
    async fn unapplied_migrations(&self) -> StoreResult<usize> {
        Ok(pending_count(&applied_versions(&self.pool).await?))
    }

    fn connection_stats(&self) -> PoolStats {
        PoolStats {
            connections: self.pool.size(),
            idle_connections: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max_connections: self.pool.options().get_max_connections(),
        }
    }

    async fn close_pools(&self) {
        if let Some(log) = self.log.lock().await.take() {
            let _ = log.conn.close().await;
        }
        self.pool.close().await;
    }
}

/// The shared SQL, compiled for this engine (and again, by design, for the other).
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;

/// The store the shared SQL implements its traits for.
type This = PostgresStore;
