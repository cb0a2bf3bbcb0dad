//! Storage for Gatehouse: one interface ([`Store`]), two real backends.
//!
//! [`Store`] is the sum of one trait per area — platform, tenancy, people,
//! identity and sessions, roles, access policy (credentials, schedules, levels,
//! doors), the access log, devices — each declared in its own module here and
//! implemented once, in `sql/`, for both engines. SQLite (WAL, the embedded
//! default) and PostgreSQL (with row-level security as a second tenant wall)
//! share that SQL text, compiled against each driver through the
//! [`backend::SqlBackend`] contract, and the same conformance suite (`tests/`).
//! Every method on tenant-owned data takes a [`TenantId`] and every statement
//! filters by it. Every change takes a [`ChangeContext`] (who, from where, when)
//! and writes its audit entry in the same transaction; nothing here reads the clock.

mod access;
mod access_log_sql;
mod backend;
mod devices;
mod error;
mod events;
mod identity;
mod migrate;
mod open;
mod people;
mod platform;
mod postgres;
mod private_file;
mod roles;
mod rows;
mod sqlite;
mod sqlite_log_index;
mod tenancy;
mod types;

pub use access::*;
pub use devices::*;
pub use error::{StoreError, StoreResult};
pub use events::{EventFilter, EventStore, FeedMove, EVENTS_PER_APPEND_MAX};
pub use identity::{IdentityStore, SessionStore};
pub use open::{open, DatabaseUrl, OpenOptions, POSTGRES_APP_ROLE};
pub use people::PeopleStore;
pub use platform::PlatformStore;
pub use postgres::{PartitionOutcome, PostgresStore, ACCESS_LOG_PARTITION_MONTHS};
pub use roles::{RoleStore, CUSTOM_ROLES_MAX};
pub use sqlite::SqliteStore;
pub use tenancy::TenancyStore;
pub use types::*;

#[cfg(doc)]
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::Tenant;
use gatehouse_domain::TenantId;

/// The tenant a caller names by id or by slug. A name that is neither a UUID nor
/// shaped like a slug is not found without asking the database.
pub async fn find_tenant(store: &dyn Store, id_or_slug: &str) -> StoreResult<Tenant> {
    match id_or_slug.parse::<TenantId>() {
        Ok(id) => store.tenant_get(id).await,
        Err(_) if gatehouse_domain::values::Slug::parse(id_or_slug).is_err() => Err(StoreError::NotFound),
        Err(_) => store.tenant_get_by_slug(id_or_slug).await,
    }
}

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Everything Gatehouse keeps: every area's trait. Implemented by [`SqliteStore`]
/// and [`PostgresStore`]; callers hold an `Arc<dyn Store>`, on which every
/// area's methods can be called.
pub trait Store:
    PlatformStore
    + TenancyStore
    + PeopleStore
    + IdentityStore
    + SessionStore
    + RoleStore
    + AccessStore
    + AccessLogStore
    + DeviceStore
    + CommandStore
    + TelemetryStore
    + DeviceMessageStore
    + EventStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: PlatformStore
        + TenancyStore
        + PeopleStore
        + IdentityStore
        + SessionStore
        + RoleStore
        + AccessStore
        + AccessLogStore
        + DeviceStore
        + CommandStore
        + TelemetryStore
        + DeviceMessageStore
        + EventStore
        + Send
        + Sync
        + 'static
{
}
