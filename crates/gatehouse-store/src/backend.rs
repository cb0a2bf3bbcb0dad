//! The contract between the shared SQL (`sql/`) and an engine: everything the
//! SQL needs that SQLite and PostgreSQL do differently. `sqlite.rs` and
//! `postgres.rs` implement it; nothing in `sql/` reaches a pool or a driver
//! any other way.

use std::future::Future;
use std::ops::DerefMut;

use chrono::{DateTime, Utc};
use gatehouse_domain::{SiteId, TenantId};
use sqlx::pool::PoolConnection;
use sqlx::{Database, QueryBuilder, Transaction};

use crate::access::AccessLogFilter;
use crate::access_log_sql::{LogOrder, TenantBatch};
use crate::{Backend, PoolStats, StoreResult};

type Connection<B> = <<B as SqlBackend>::Db as Database>::Connection;

/// What an engine supplies to the SQL written once for both.
pub(crate) trait SqlBackend: Send + Sync + Sized + 'static {
    type Db: Database;
    /// A read in one tenant: a pooled connection where each statement is its own
    /// snapshot (SQLite), a transaction that sets the tenant for row-level
    /// security (PostgreSQL). Ended with [`Finish::finish`].
    type Read: Finish + DerefMut<Target = <Self::Db as Database>::Connection> + Send;

    const BACKEND: Backend;

    /// A read of tenant data.
    fn read(&self, tenant: TenantId) -> impl Future<Output = StoreResult<Self::Read>> + Send;
    /// A write of tenant data: a transaction in which `tenant` is entered.
    fn write(&self, tenant: TenantId) -> impl Future<Output = StoreResult<Transaction<'static, Self::Db>>> + Send;
    /// A read of several statements that must agree with each other (a whole policy).
    fn read_snapshot(&self, tenant: TenantId) -> impl Future<Output = StoreResult<Transaction<'static, Self::Db>>> + Send;
    /// A read of platform tables (tenants, accounts, settings), in no tenant.
    fn read_platform(&self) -> impl Future<Output = StoreResult<Self::Read>> + Send;
    /// A write of platform tables, in no tenant.
    fn write_platform(&self) -> impl Future<Output = StoreResult<Transaction<'static, Self::Db>>> + Send;

    /// Serialises changes to one site's zone tree for the rest of the transaction.
    fn lock_zone_tree(
        conn: &mut Connection<Self>,
        tenant: TenantId,
        site: SiteId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Switches a transaction that spans tenants to `tenant` (row-level security).
    fn enter_tenant(conn: &mut Connection<Self>, tenant: TenantId) -> impl Future<Output = StoreResult<()>> + Send;

    /// Makes the access log ready to take entries at `now` (partitions).
    fn prepare_log(&self, now: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Appends a batch split by tenant, in one transaction.
    fn append_log(&self, batches: &[TenantBatch<'_>]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Appends one tenant's part of a batch inside `conn`'s transaction, moving its head
    /// from the entry the part continues (else `Conflict { field: "seq" }`).
    fn append_tenant(conn: &mut Connection<Self>, batch: &TenantBatch<'_>) -> impl Future<Output = StoreResult<()>> + Send;
    /// One tenant's log entries matching `filter`, from where `order` starts, up to its ORDER
    /// BY: the columns of [`LOG_COLUMNS`](crate::access_log_sql::LOG_COLUMNS), and in
    /// [`LogOrder::Reported`] `reported_key`, the instant the entry reports.
    fn log_list_query(tenant: TenantId, filter: &AccessLogFilter, order: LogOrder) -> QueryBuilder<'static, Self::Db>;

    /// Applies pending migrations; how many were applied.
    fn apply_migrations(&self) -> impl Future<Output = StoreResult<usize>> + Send;
    /// How many embedded migrations are not applied yet.
    fn unapplied_migrations(&self) -> impl Future<Output = StoreResult<usize>> + Send;
    fn connection_stats(&self) -> PoolStats;
    /// Finishes writes and closes every connection.
    fn close_pools(&self) -> impl Future<Output = ()> + Send;
}

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
