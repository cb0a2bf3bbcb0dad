//! Filters, pages and idempotency records passed to and from the [`crate::Store`].

use chrono::{DateTime, Utc};
use gatehouse_domain::identity::{AccountStatus, RoleAssignment, Session};
use gatehouse_domain::people::{PersonKind, PersonStatus};
use gatehouse_domain::tenancy::{AccessPointKind, TenantStatus, ZoneKind};
use gatehouse_domain::values::{Email, Name};
use gatehouse_domain::{AccountId, SessionId, SiteId, UnitId, ZoneId};
use uuid::Uuid;

/// Rows per page when the caller doesn't say.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;
/// Most rows one page may hold.
pub const PAGE_LIMIT_MAX: u32 = 500;

/// Keyset pagination in id order (ids are UUIDv7, so this is creation order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// Return rows whose id is greater than this one.
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit: limit.clamp(1, PAGE_LIMIT_MAX), after: None }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(PAGE_LIMIT_DEFAULT)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page, or `None` on the last page.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct SiteFilter {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Only these sites: what a site-scoped caller may see.
    pub within: Option<Vec<SiteId>>,
}

#[derive(Debug, Clone, Default)]
pub struct ZoneFilter {
    pub site_id: Option<SiteId>,
    pub parent_id: Option<ZoneId>,
    /// Only top-level zones (no parent).
    pub top_level: bool,
    pub kind: Option<ZoneKind>,
    pub name_contains: Option<String>,
    /// Only these zones: what a site- or zone-scoped caller may see.
    pub within: Option<Vec<ZoneId>>,
}

#[derive(Debug, Clone, Default)]
pub struct UnitFilter {
    pub zone_id: Option<ZoneId>,
    pub name_contains: Option<String>,
    /// Only units in these zones: what a site- or zone-scoped caller may see.
    pub within: Option<Vec<ZoneId>>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessPointFilter {
    pub zone_id: Option<ZoneId>,
    pub kind: Option<AccessPointKind>,
    pub name_contains: Option<String>,
    /// Only access points in these zones: what a site- or zone-scoped caller may see.
    pub within: Option<Vec<ZoneId>>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    pub kind: Option<PersonKind>,
    /// Without a status, archived people are left out.
    pub status: Option<PersonStatus>,
    pub unit_id: Option<UnitId>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Case-insensitive substring of first name, last name or e-mail.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub connections: u32,
    pub idle_connections: u32,
    pub max_connections: u32,
}

/// A request to claim an idempotency key for one caller.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// The caller and tenant the key belongs to.
    pub scope: String,
    pub key: String,
    /// A hash of the request (method, path, body); a reuse with another body is refused.
    pub fingerprint: String,
    /// A claim older than this without a response is taken as abandoned.
    pub stale_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    /// The key is ours: run the request and complete or release the key.
    Claimed,
    /// The same request already ran: send back its response.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// The same request is running right now.
    InProgress,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action (permission code), e.g. `tenancy.site.update`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// A new account as stored: the password already hashed, role ids already chosen.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub email: Email,
    pub display_name: Option<Name>,
    /// An argon2id PHC string; `None` for an account that cannot log in with a password yet.
    pub password_hash: Option<String>,
    pub roles: Vec<RoleAssignment>,
    /// The person of the creating tenant this account is.
    pub person_id: Option<gatehouse_domain::PersonId>,
}

/// What login needs to know about an account.
#[derive(Clone)]
pub struct AccountCredentials {
    pub id: AccountId,
    pub status: AccountStatus,
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCredentials").field("id", &self.id).field("status", &self.status).finish_non_exhaustive()
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The token was current: it is retired and the session now answers to the next one.
    Rotated(Session),
    /// The token was already retired: someone replayed it, so the session is revoked.
    Reused(SessionId),
    /// The token belongs to a session that is revoked or expired.
    Inactive(SessionId),
    /// No session knows the token.
    Unknown,
}

/// A token signing key. The private half is encrypted with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub private_key_encrypted: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord").field("kid", &self.kid).field("retired_at", &self.retired_at).finish_non_exhaustive()
    }
}

/// An account's TOTP second factor, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaRecord {
    /// The TOTP secret, sealed under the master key.
    pub secret_sealed: Vec<u8>,
    /// Null while enrolment waits for its first code.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last 30-second step whose code was accepted.
    pub last_used_step: i64,
}

impl std::fmt::Debug for MfaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRecord").field("confirmed_at", &self.confirmed_at).finish_non_exhaustive()
    }
}
