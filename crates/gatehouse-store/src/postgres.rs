//! The scale-out backend: PostgreSQL with row-level security.
//!
//! Migrations run over a connection as the configured user (who owns the tables);
//! every pooled connection then switches to the role [`POSTGRES_APP_ROLE`], which
//! row-level security applies to, and each transaction on tenant data sets
//! `gatehouse.tenant_id` so the database itself hides other tenants' rows.

use std::time::Duration;

use gatehouse_domain::{SiteId, TenantId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};

use crate::{migrate, Backend, PoolStats, StoreResult, POSTGRES_APP_ROLE};

pub struct PostgresStore {
    pool: PgPool,
    owner_options: PgConnectOptions,
}

impl PostgresStore {
    pub(crate) const BACKEND: Backend = Backend::Postgres;

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
        Ok(Self { pool, owner_options: options })
    }

    pub(crate) async fn read(&self, tenant: TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        self.write(tenant).await
    }

    pub(crate) async fn write(&self, tenant: TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(tenant.to_string()).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// Serialises changes to one site's zone tree: two concurrent moves (A under B,
    /// B under A) would each pass the cycle check on the tree as it was, so the
    /// check and the move run while holding the site's row lock.
    pub(crate) async fn lock_zone_tree(conn: &mut PgConnection, tenant: TenantId, site: SiteId) -> StoreResult<()> {
        sqlx::query("SELECT id FROM sites WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_uuid())
            .bind(site.as_uuid())
            .execute(conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn read_platform(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) async fn write_platform(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) async fn migrate_impl(&self) -> StoreResult<usize> {
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
        let applied = migrate::migrator(Backend::Postgres).run(&owner).await;
        owner.close().await;
        applied?;
        Ok(pending)
    }

    /// Asked by readiness probes, so it uses the pool (as the app role, which may
    /// read the migration table) rather than opening an owner connection each time.
    pub(crate) async fn pending_migrations_impl(&self) -> StoreResult<usize> {
        Ok(pending_count(&applied_versions(&self.pool).await?))
    }
    pub(crate) fn pool_stats_impl(&self) -> PoolStats {
        PoolStats {
            connections: self.pool.size(),
            idle_connections: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max_connections: self.pool.options().get_max_connections(),
        }
    }

    pub(crate) async fn close_impl(&self) {
        self.pool.close().await;
    }
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

crate::sql::sql_store!(crate::PostgresStore, sqlx::Postgres, sqlx::postgres::PgRow);
