//! The admin audit trail: who changed what, from where, and how it looked before
//! and after. Entries are written by the store in the same transaction as the
//! change they describe, so a change without its entry cannot exist.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantId;

/// Who made a change. Never holds a secret: the bootstrap token is "bootstrap",
/// an account is its id and e-mail, a key its id and prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// `bootstrap`, `account`, `api_key` or `system` (the demo loader, the CLI).
    pub kind: String,
    pub id: Option<Uuid>,
    /// A human-readable name for the actor.
    pub label: String,
}

impl Actor {
    pub fn bootstrap() -> Actor {
        Actor { kind: "bootstrap".into(), id: None, label: "bootstrap token".into() }
    }

    /// A change made by Gatehouse itself or an operator's command-line tool.
    pub fn system(label: &str) -> Actor {
        Actor { kind: "system".into(), id: None, label: label.to_owned() }
    }
}

/// Everything recorded with a change besides the change itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    pub actor: Actor,
    /// The `x-request-id` of the API call that made the change.
    pub request_id: Option<String>,
    /// The client's address.
    pub source: Option<String>,
    /// When the change is made; also the rows' `updated_at`.
    pub at: DateTime<Utc>,
}

impl ChangeContext {
    pub fn system(label: &str, at: DateTime<Utc>) -> ChangeContext {
        ChangeContext { actor: Actor::system(label), request_id: None, source: None, at }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: Uuid,
    /// Null for platform-level changes (tenants, platform settings).
    pub tenant_id: Option<TenantId>,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The permission code of the change, e.g. `tenancy.site.update`.
    pub action: String,
    /// What kind of thing changed: `tenant`, `site`, `zone`, `unit`, `access_point`, `person`, `setting`.
    pub target_type: String,
    pub target_id: Option<String>,
    /// The target before the change (null for creations).
    pub before: Option<serde_json::Value>,
    /// The target after the change (null for deletions).
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source: Option<String>,
}
