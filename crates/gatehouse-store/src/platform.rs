//! The platform area: what belongs to the installation rather than to a tenant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{AuditEntry, ChangeContext};
use gatehouse_domain::TenantId;

use crate::*;

/// The platform's own records: health and migrations, settings, the audit trail
/// and idempotency keys.
#[async_trait]
pub trait PlatformStore: Send + Sync {
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
