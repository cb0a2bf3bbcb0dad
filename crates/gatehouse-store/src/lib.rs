//! Storage for Gatehouse: one interface ([`Store`]), two real backends.
//!
//! SQLite (WAL, the embedded default) and PostgreSQL (with row-level security as
//! a second tenant wall) share the same SQL text, written once in [`sql`] and
//! compiled against each driver, and the same conformance suite (`tests/`).
//! Every method on tenant-owned data takes a [`TenantId`] and every statement
//! filters by it. Every change takes a [`ChangeContext`] (who, from where, when)
//! and writes its audit entry in the same transaction; nothing here reads the clock.

mod access;
mod access_log_sql;
mod access_sql;
mod device_sql;
mod devices;
mod error;
mod migrate;
mod open;
mod postgres;
mod private_file;
mod roles_sql;
mod rows;
mod sql;
mod sqlite;
mod sqlite_log_index;
mod types;

pub use access::*;
pub use devices::*;
pub use error::{StoreError, StoreResult};
pub use open::{open, DatabaseUrl, OpenOptions, POSTGRES_APP_ROLE};
pub use postgres::{PartitionOutcome, PostgresStore, ACCESS_LOG_PARTITION_MONTHS};
pub use sqlite::SqliteStore;
pub use types::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{AuditEntry, ChangeContext};
use gatehouse_domain::authz::{CustomRole, CustomRolePatch, NewCustomRole};
use gatehouse_domain::identity::{Account, ApiKey, RoleAssignment, Session};
use gatehouse_domain::people::{NewPerson, Person, PersonPatch};
use gatehouse_domain::people_csv::ImportContext;
use gatehouse_domain::tenancy::*;
use gatehouse_domain::values::RoleName;
use gatehouse_domain::{AccessPointId, AccountId, ApiKeyId, PersonId, SessionId, SiteId, TenantId, UnitId, ZoneId};

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

/// Most roles of its own a tenant may define.
pub const CUSTOM_ROLES_MAX: usize = 200;

/// A tenant's own roles, and the role assignments of an existing account.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// The tenant's own roles, by name.
    async fn role_list(&self, tenant: TenantId) -> StoreResult<Vec<CustomRole>>;
    async fn role_get(&self, tenant: TenantId, name: &RoleName) -> StoreResult<CustomRole>;
    /// Creates a role ([`StoreError::Conflict`] on `name` if taken).
    async fn role_create(&self, tenant: TenantId, new: &NewCustomRole, change: &ChangeContext) -> StoreResult<CustomRole>;
    async fn role_update(
        &self,
        tenant: TenantId,
        name: &RoleName,
        patch: &CustomRolePatch,
        change: &ChangeContext,
    ) -> StoreResult<CustomRole>;
    /// Deletes a role no account or live API key holds ([`StoreError::InUse`] otherwise).
    async fn role_delete(&self, tenant: TenantId, name: &RoleName, change: &ChangeContext) -> StoreResult<()>;
    /// Gives an account of the tenant one more role there.
    async fn role_assignment_add(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: &RoleAssignment,
        change: &ChangeContext,
    ) -> StoreResult<()>;
    /// Takes one of its roles in the tenant from an account, returning it.
    async fn role_assignment_remove(
        &self,
        tenant: TenantId,
        account: AccountId,
        assignment: uuid::Uuid,
        change: &ChangeContext,
    ) -> StoreResult<RoleAssignment>;
}

/// Everything Gatehouse keeps. Implemented by [`SqliteStore`] and [`PostgresStore`].
#[async_trait]
pub trait Store: RoleStore + AccessStore + AccessLogStore + DeviceStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Runs one trivial query: the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// How many of the embedded migrations are not applied yet.
    async fn pending_migrations(&self) -> StoreResult<usize>;
    /// Applies pending migrations. `serve` and `migrate` call this at start.
    async fn migrate(&self) -> StoreResult<usize>;
    /// Connection pool figures for metrics.
    fn pool_stats(&self) -> PoolStats;
    /// Finishes writes and closes every connection.
    async fn close(&self);

    // Platform settings: small named values owned by the platform, not a tenant.
    async fn setting_get(&self, key: &str) -> StoreResult<Option<String>>;
    async fn setting_put(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<()>;
    /// Stores `value` only if `key` has none yet; true if this call stored it.
    async fn setting_insert(&self, key: &str, value: &str, change: &ChangeContext) -> StoreResult<bool>;

    // Tenants (platform level).
    async fn tenant_create(&self, new: &NewTenant, change: &ChangeContext) -> StoreResult<Tenant>;
    async fn tenant_get(&self, id: TenantId) -> StoreResult<Tenant>;
    async fn tenant_get_by_slug(&self, slug: &str) -> StoreResult<Tenant>;
    async fn tenant_list(&self, filter: &TenantFilter, page: PageRequest) -> StoreResult<Page<Tenant>>;
    async fn tenant_update(&self, id: TenantId, patch: &TenantPatch, change: &ChangeContext) -> StoreResult<Tenant>;

    async fn site_create(&self, tenant: TenantId, new: &NewSite, change: &ChangeContext) -> StoreResult<Site>;
    async fn site_get(&self, tenant: TenantId, id: SiteId) -> StoreResult<Site>;
    async fn site_list(&self, tenant: TenantId, filter: &SiteFilter, page: PageRequest) -> StoreResult<Page<Site>>;
    async fn site_update(&self, tenant: TenantId, id: SiteId, patch: &SitePatch, change: &ChangeContext) -> StoreResult<Site>;
    /// Fails with [`StoreError::InUse`] while the site has zones.
    async fn site_delete(&self, tenant: TenantId, id: SiteId, change: &ChangeContext) -> StoreResult<()>;

    async fn zone_create(&self, tenant: TenantId, new: &NewZone, change: &ChangeContext) -> StoreResult<Zone>;
    async fn zone_get(&self, tenant: TenantId, id: ZoneId) -> StoreResult<Zone>;
    async fn zone_list(&self, tenant: TenantId, filter: &ZoneFilter, page: PageRequest) -> StoreResult<Page<Zone>>;
    /// Every zone in these sites and in the subtrees of these zones: the zones
    /// a site- or zone-scoped caller reaches.
    async fn zones_within(&self, tenant: TenantId, sites: &[SiteId], zones: &[ZoneId]) -> StoreResult<Vec<ZoneId>>;
    async fn zone_update(&self, tenant: TenantId, id: ZoneId, patch: &ZonePatch, change: &ChangeContext) -> StoreResult<Zone>;
    /// Fails with [`StoreError::InUse`] while the zone holds zones, units or access points.
    async fn zone_delete(&self, tenant: TenantId, id: ZoneId, change: &ChangeContext) -> StoreResult<()>;

    async fn unit_create(&self, tenant: TenantId, new: &NewUnit, change: &ChangeContext) -> StoreResult<Unit>;
    async fn unit_get(&self, tenant: TenantId, id: UnitId) -> StoreResult<Unit>;
    async fn unit_list(&self, tenant: TenantId, filter: &UnitFilter, page: PageRequest) -> StoreResult<Page<Unit>>;
    async fn unit_update(&self, tenant: TenantId, id: UnitId, patch: &UnitPatch, change: &ChangeContext) -> StoreResult<Unit>;
    /// Fails with [`StoreError::InUse`] while people belong to the unit.
    async fn unit_delete(&self, tenant: TenantId, id: UnitId, change: &ChangeContext) -> StoreResult<()>;

    async fn access_point_create(
        &self,
        tenant: TenantId,
        new: &NewAccessPoint,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint>;
    async fn access_point_get(&self, tenant: TenantId, id: AccessPointId) -> StoreResult<AccessPoint>;
    async fn access_point_list(
        &self,
        tenant: TenantId,
        filter: &AccessPointFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AccessPoint>>;
    async fn access_point_update(
        &self,
        tenant: TenantId,
        id: AccessPointId,
        patch: &AccessPointPatch,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint>;
    async fn access_point_delete(&self, tenant: TenantId, id: AccessPointId, change: &ChangeContext) -> StoreResult<()>;

    async fn person_create(&self, tenant: TenantId, new: &NewPerson, change: &ChangeContext) -> StoreResult<Person>;
    async fn person_get(&self, tenant: TenantId, id: PersonId) -> StoreResult<Person>;
    async fn person_list(&self, tenant: TenantId, filter: &PersonFilter, page: PageRequest) -> StoreResult<Page<Person>>;
    async fn person_update(
        &self,
        tenant: TenantId,
        id: PersonId,
        patch: &PersonPatch,
        change: &ChangeContext,
    ) -> StoreResult<Person>;
    /// What a people CSV is validated against: units, taken e-mails and external ids.
    async fn people_import_context(&self, tenant: TenantId) -> StoreResult<ImportContext>;
    /// Inserts all the people in one transaction: all of them or none. `progress`
    /// hears the number of rows written so far after each batch.
    async fn people_insert_all(
        &self,
        tenant: TenantId,
        people: &[NewPerson],
        change: &ChangeContext,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> StoreResult<usize>;

    // Identity: accounts, sessions and signing keys are platform-level rows (an
    // account spans tenants); every query names the account, session or tenant.
    /// Creates an account with roles in `tenant` (or platform roles, with `None`).
    async fn account_create(
        &self,
        tenant: Option<TenantId>,
        account: &AccountRecord,
        change: &ChangeContext,
    ) -> StoreResult<Account>;
    async fn account_get(&self, id: AccountId) -> StoreResult<Account>;
    /// For login: the account with this (lower-case) e-mail, if any.
    async fn account_credentials(&self, email: &str) -> StoreResult<Option<AccountCredentials>>;
    /// Accounts holding a role in `tenant`, each with its roles there and its platform roles.
    async fn account_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Account>>;
    async fn session_create(&self, session: &Session, refresh_hash: &str) -> StoreResult<()>;
    async fn session_get(&self, id: SessionId) -> StoreResult<Session>;
    /// The account's sessions, newest first, revoked and expired ones included.
    async fn session_list(&self, account: AccountId) -> StoreResult<Vec<Session>>;
    /// Exchanges a refresh token (by digest) for the next one, detecting reuse.
    async fn session_refresh(&self, presented_hash: &str, next_hash: &str, now: DateTime<Utc>) -> StoreResult<RefreshOutcome>;
    /// Ends a session; its tokens stop working.
    async fn session_revoke(&self, id: SessionId, reason: &str, change: &ChangeContext) -> StoreResult<()>;
    /// Every signing key, newest first, retired ones included.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key and retires every other active key at `change.at`.
    async fn signing_key_add(&self, key: &SigningKeyRecord, change: &ChangeContext) -> StoreResult<()>;

    /// Stores a new API key (by digest) with its role in `tenant`.
    async fn api_key_create(&self, tenant: TenantId, key: &ApiKey, key_hash: &str, change: &ChangeContext)
        -> StoreResult<ApiKey>;
    async fn api_key_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<ApiKey>>;
    /// The key with this digest, revoked and expired ones included (the caller decides).
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_key_revoke(&self, tenant: TenantId, id: ApiKeyId, change: &ChangeContext) -> StoreResult<ApiKey>;
    /// Records a use (callers debounce: at most one write per key per minute).
    async fn api_key_touch(&self, id: ApiKeyId, at: DateTime<Utc>) -> StoreResult<()>;

    /// Renames, disables or re-enables an account (audited in `tenant`'s trail). Disabling
    /// revokes every active session of the account in the same transaction; their ids are returned.
    async fn account_update(
        &self,
        tenant: Option<TenantId>,
        id: AccountId,
        display_name: Option<Option<gatehouse_domain::values::Name>>,
        status: Option<gatehouse_domain::identity::AccountStatus>,
        change: &ChangeContext,
    ) -> StoreResult<(Account, Vec<SessionId>)>;
    /// Replaces the password hash and revokes every other session; their ids are returned.
    async fn account_set_password(
        &self,
        id: AccountId,
        password_hash: &str,
        keep_session: Option<SessionId>,
        change: &ChangeContext,
    ) -> StoreResult<Vec<SessionId>>;
    async fn password_reset_create(
        &self,
        account: AccountId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        change: &ChangeContext,
    ) -> StoreResult<()>;
    /// Spends a reset token: the account it was for, if it is known, unused and not expired.
    async fn password_reset_use(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<AccountId>>;

    async fn mfa_get(&self, account: AccountId) -> StoreResult<Option<MfaRecord>>;
    /// Starts (or restarts) enrolment with a new secret; refused with a conflict
    /// while a confirmed factor exists.
    async fn mfa_begin(&self, account: AccountId, secret_sealed: &[u8], change: &ChangeContext) -> StoreResult<()>;
    /// Confirms enrolment with the step of the first accepted code, and stores the
    /// recovery codes (digests), all at once.
    async fn mfa_confirm(
        &self,
        account: AccountId,
        step: i64,
        recovery_hashes: &[String],
        change: &ChangeContext,
    ) -> StoreResult<()>;
    /// Accepts `step` only if it is later than the last accepted one: a code works once.
    async fn mfa_use_step(&self, account: AccountId, step: i64) -> StoreResult<bool>;
    /// Uses up a recovery code; false if unknown or already used.
    async fn mfa_use_recovery_code(&self, account: AccountId, code_hash: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Removes the second factor and its recovery codes.
    async fn mfa_disable(&self, account: AccountId, change: &ChangeContext) -> StoreResult<()>;

    /// Records an event that changes no row of its own (a failed login, a lockout).
    async fn audit_record(
        &self,
        tenant: Option<TenantId>,
        change: &ChangeContext,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        details: Option<serde_json::Value>,
    ) -> StoreResult<()>;

    /// Audit entries of one tenant, or of the platform (`None`), newest first.
    async fn audit_list(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>>;

    /// Claims an idempotency key at `now`, or reports what an earlier request with it did.
    /// `now` is the claim's identity: completing or releasing it later names it.
    async fn idempotency_claim(&self, claim: &IdempotencyClaim, now: DateTime<Utc>) -> StoreResult<IdempotencyOutcome>;
    /// Stores the response of the claim taken at `claimed_at`, for replay; a claim
    /// since taken over by a retry is left alone.
    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        claimed_at: DateTime<Utc>,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    /// Releases the claim taken at `claimed_at` (its request failed), so it can be retried.
    async fn idempotency_release(&self, scope: &str, key: &str, claimed_at: DateTime<Utc>) -> StoreResult<()>;
    /// Forgets keys created before `before`.
    async fn idempotency_purge(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
