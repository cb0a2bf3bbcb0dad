//! The session registry: every session this node has seen, held in memory, so
//! that checking an access token's session costs no database read, and a
//! revocation takes effect on the very next request. A session unknown to this
//! node (issued elsewhere, or before a restart) is loaded once from the store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use gatehouse_domain::audit::Actor;
use gatehouse_domain::authz::{Assignment, RoleCatalog};
use gatehouse_domain::identity::AccountStatus;
use gatehouse_domain::{AccountId, SessionId, TenantId};
use gatehouse_store::{Store, StoreError, StoreResult};

use super::roles::RoleCatalogs;

/// Most sessions held; past it the registry starts over (entries reload on demand).
const SESSIONS_MAX: usize = 100_000;

#[derive(Debug, Clone)]
pub struct SessionEntry {
    pub account_id: AccountId,
    pub tenant_id: Option<TenantId>,
    pub actor: Actor,
    pub assignments: Arc<[Assignment]>,
    pub role_names: Vec<String>,
    pub active: bool,
    /// The account has a confirmed second factor (some tenants require one).
    pub mfa_enrolled: bool,
}

#[derive(Default)]
pub struct SessionRegistry {
    entries: RwLock<HashMap<SessionId, SessionEntry>>,
}

impl SessionRegistry {
    /// The session, from memory or (once) from the store.
    pub async fn get(&self, store: &dyn Store, roles: &RoleCatalogs, id: SessionId) -> StoreResult<Option<SessionEntry>> {
        if let Some(entry) = self.entries.read().ok().and_then(|entries| entries.get(&id).cloned()) {
            return Ok(Some(entry));
        }
        let session = match store.session_get(id).await {
            Ok(session) => session,
            Err(StoreError::NotFound) => return Ok(None),
            Err(err) => return Err(err),
        };
        let account = store.account_get(session.account_id).await?;
        let mfa_enrolled = super::mfa::is_enrolled(store, account.id).await?;
        let active = session.is_active(Utc::now()) && account.status == AccountStatus::Active;
        let catalog = roles.for_tenant(store, session.tenant_id).await?;
        let entry = entry_for(&account, session.tenant_id, &catalog, active, mfa_enrolled);
        self.insert(id, entry.clone());
        Ok(Some(entry))
    }

    pub fn insert(&self, id: SessionId, entry: SessionEntry) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= SESSIONS_MAX {
                entries.clear();
            }
            entries.insert(id, entry);
        }
    }

    /// Records that an account enrolled (or dropped) its second factor, for its sessions here.
    pub fn set_mfa_enrolled(&self, account: AccountId, enrolled: bool) {
        if let Ok(mut entries) = self.entries.write() {
            for entry in entries.values_mut().filter(|entry| entry.account_id == account) {
                entry.mfa_enrolled = enrolled;
            }
        }
    }

    /// Drops what is held about an account's sessions (its roles changed); they reload on next use.
    pub fn forget_account(&self, account: AccountId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, entry| entry.account_id != account);
        }
    }

    /// Drops what is held about sessions in a tenant (its roles were redefined); they reload on next use.
    pub fn forget_tenant(&self, tenant: TenantId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, entry| entry.tenant_id != Some(tenant));
        }
    }

    /// Marks the session revoked here and now.
    pub fn revoke(&self, id: SessionId) {
        if let Ok(mut entries) = self.entries.write() {
            if let Some(entry) = entries.get_mut(&id) {
                entry.active = false;
            }
        }
    }
}

/// The registry entry of an account's session in `tenant`: its roles there and its platform roles.
pub fn entry_for(
    account: &gatehouse_domain::identity::Account,
    tenant: Option<TenantId>,
    catalog: &RoleCatalog,
    active: bool,
    mfa_enrolled: bool,
) -> SessionEntry {
    let roles: Vec<_> = account.roles.iter().filter(|role| role.tenant_id.is_none() || role.tenant_id == tenant).collect();
    SessionEntry {
        account_id: account.id,
        tenant_id: tenant,
        actor: Actor { kind: "account".into(), id: Some(account.id.as_uuid()), label: account.email.to_string() },
        assignments: roles.iter().map(|role| role.to_assignment(catalog)).collect::<Vec<_>>().into(),
        role_names: roles.iter().map(|role| role.role.as_str().to_owned()).collect(),
        active,
        mfa_enrolled,
    }
}
