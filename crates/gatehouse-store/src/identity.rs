//! The identity area: who may sign in, and how they prove it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::identity::{Account, ApiKey, Session};
use gatehouse_domain::{AccountId, ApiKeyId, SessionId, TenantId};

use crate::*;

/// Accounts, their passwords and password resets, and API keys. Accounts are
/// platform-level rows (an account spans tenants); every query names the
/// account, the key or the tenant.
#[async_trait]
pub trait IdentityStore: Send + Sync {
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
}

/// Sessions and their refresh tokens, the token-signing keys, and second factors.
#[async_trait]
pub trait SessionStore: Send + Sync {
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
}
