//! Setting an account's password: changed by its owner (the current one checked,
//! every other session of the account ended) or set with a single-use reset token
//! (every session ended). Either way the new one must pass the password policy.

use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::identity::{check_password_policy, Account, Password};
use gatehouse_domain::values::Email;
use gatehouse_domain::{AccountId, SessionId};
use gatehouse_store::Store;

use super::Identity;
use crate::error::{ServiceError, ServiceResult};
use crate::secret_token;

/// Stands for "any account" while the rules that need none are checked, before a reset token is spent.
const ANY_ACCOUNT_EMAIL: &str = "reset@gatehouse.invalid";

impl Identity {
    /// The account's owner changes its password; the session it acts in (`keep_session`) stays.
    pub async fn change_password(
        &self,
        store: &dyn Store,
        account_id: AccountId,
        keep_session: SessionId,
        current: &Password,
        new: &Password,
        change: &ChangeContext,
    ) -> ServiceResult<()> {
        let account = store.account_get(account_id).await?;
        let credentials = store.account_credentials(account.email.as_str()).await?;
        let stored = credentials.as_ref().and_then(|c| c.password_hash.as_deref());
        if !self.passwords.verify(current.expose(), stored).await {
            return Err(ServiceError::validation("current_password", "the current password is wrong"));
        }
        self.set_password(store, &account, new, Some(keep_session), change).await
    }

    /// Sets a new password with a reset token (single use); the change is the account's own.
    pub async fn reset_password(
        &self,
        store: &dyn Store,
        reset_token: &str,
        new: &Password,
        source: Option<String>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let digest = secret_token::digest(reset_token);
        // The rules that need no account first, so a too-short password does not spend the token.
        let anyone = Email::parse(ANY_ACCOUNT_EMAIL).map_err(|e| ServiceError::internal(&e))?;
        check_password_policy(new, &anyone, None).map_err(|err| ServiceError::validation("new_password", err.message))?;
        let account_id = store
            .password_reset_use(&digest, now)
            .await?
            .ok_or_else(|| ServiceError::Unauthorized("the reset token is unknown, used or expired".into()))?;
        let account = store.account_get(account_id).await?;
        let change = ChangeContext {
            actor: Actor {
                kind: "account".into(),
                id: Some(account.id.as_uuid()),
                label: format!("{} (password reset)", account.email),
            },
            request_id: None,
            source,
            at: now,
        };
        self.set_password(store, &account, new, None, &change).await
    }

    async fn set_password(
        &self,
        store: &dyn Store,
        account: &Account,
        password: &Password,
        keep_session: Option<SessionId>,
        change: &ChangeContext,
    ) -> ServiceResult<()> {
        check_password_policy(password, &account.email, account.display_name.as_ref())
            .map_err(|err| ServiceError::validation("new_password", err.message))?;
        let hash = self.passwords.hash(password.expose()).await.map_err(|e| ServiceError::internal(&e))?;
        for session in store.account_set_password(account.id, &hash, keep_session, change).await? {
            self.sessions.revoke(session);
        }
        Ok(())
    }
}
