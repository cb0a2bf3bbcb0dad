//! Logging in and opening sessions: the password check (throttled, the same
//! answer and the same cost for every kind of failure), the tenant a session
//! acts in, the second factor's challenge, and the tokens a session starts with
//! or is refreshed to.

use std::time::Instant;

use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::identity::{Account, AccountStatus, Password, Session};
use gatehouse_domain::tenancy::TenantStatus;
use gatehouse_domain::{SessionId, TenantId};
use gatehouse_store::{RefreshOutcome, Store, StoreError};
use serde::Serialize;

use super::sessions::entry_for;
use super::throttle::{FailureOutcome, Verdict};
use super::{mfa, Identity};
use crate::error::{ServiceError, ServiceResult};
use crate::secret_token;
use crate::tenant_cache::TenantCache;

/// Prefix of refresh tokens, so a leaked one is recognisable.
pub const REFRESH_TOKEN_PREFIX: &str = "ghr_";
/// Longest e-mail recorded for a failed login (what was typed, cut).
const LOGIN_TARGET_CHARS_MAX: usize = 254;

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// A JWT (EdDSA) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; exchange it at `/api/v1/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A login as asked: e-mail and password, the tenant named (if any), and where it came from.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    pub email: &'a str,
    pub password: &'a Password,
    /// The tenant (id or slug) to act in; needed when the account has roles in several.
    pub tenant: Option<&'a str>,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

/// What a login came to: a session's tokens, or a second factor to give.
#[derive(Debug)]
pub enum LoginOutcome {
    Tokens(TokenResponse),
    /// The password was right; the single-use token to complete the login with a code.
    MfaRequired {
        mfa_token: String,
    },
}

fn new_refresh_token() -> (String, String) {
    secret_token::generate(REFRESH_TOKEN_PREFIX)
}

impl Identity {
    /// Checks the password (throttled per e-mail and per source address, failures audited)
    /// and opens a session in the tenant the login acts in, or a second-factor challenge.
    pub async fn login(
        &self,
        store: &dyn Store,
        tenants: &TenantCache,
        attempt: LoginAttempt<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<LoginOutcome> {
        let email = attempt.email.trim().to_lowercase();
        let email_key = format!("email:{email}");
        let source_key = format!("source:{}", attempt.source.as_deref().unwrap_or("unknown"));
        let throttle = &self.throttle;
        if let Verdict::Blocked { retry_after } = throttle.check(&[&email_key, &source_key], Instant::now()) {
            return Err(ServiceError::RateLimited {
                detail: "too many failed logins; wait before trying again".into(),
                retry_after_seconds: retry_after.as_secs_f64().ceil() as u64,
            });
        }
        let credentials = store.account_credentials(&email).await?;
        // Always one argon2id verification, against a decoy hash when the e-mail is
        // unknown: same answer, same cost, whatever is wrong.
        let matched =
            self.passwords.verify(attempt.password.expose(), credentials.as_ref().and_then(|c| c.password_hash.as_deref())).await;
        let credentials = match credentials {
            Some(credentials) if matched && credentials.status == AccountStatus::Active => credentials,
            _ => {
                let failed_at = Instant::now();
                let by_email = throttle.fail(&email_key, self.throttle_per_account, failed_at);
                let by_source = throttle.fail(&source_key, self.throttle_per_source, failed_at);
                record_failure(store, &email, attempt.source.clone(), by_email, by_source, now).await;
                return Err(ServiceError::InvalidCredentials);
            }
        };
        throttle.succeed(&email_key);
        let account = store.account_get(credentials.id).await?;
        let tenant = choose_tenant(tenants, &account, attempt.tenant).await?;
        if mfa::is_enrolled(store, account.id).await? {
            let mfa_token = self.mfa_challenges.open(account.id, tenant);
            return Ok(LoginOutcome::MfaRequired { mfa_token });
        }
        // No confirmed second factor (checked just above).
        let tokens = self.open_session(store, &account, tenant, attempt.source, attempt.user_agent, false, now).await?;
        Ok(LoginOutcome::Tokens(tokens))
    }

    /// Completes a login that answered [`LoginOutcome::MfaRequired`] with a TOTP or recovery code.
    pub async fn complete_mfa_login(
        &self,
        store: &dyn Store,
        mfa_token: &str,
        code: &str,
        source: Option<String>,
        user_agent: Option<String>,
        now: DateTime<Utc>,
    ) -> ServiceResult<TokenResponse> {
        let challenge = self
            .mfa_challenges
            .attempt(mfa_token)
            .ok_or_else(|| ServiceError::Unauthorized("the mfa_token is unknown, used up or expired; log in again".into()))?;
        let enrolled = store
            .mfa_get(challenge.account_id)
            .await?
            .filter(|mfa| mfa.confirmed_at.is_some())
            .ok_or_else(|| ServiceError::Unauthorized("the account has no second factor any more; log in again".into()))?;
        let secret = self.keys.open_secret(&enrolled.secret_sealed).map_err(|reason| ServiceError::internal(&reason))?;
        if !mfa::accept_code(store, challenge.account_id, &secret, code, true, now).await? {
            return Err(ServiceError::Unauthorized("the code is wrong or was already used".into()));
        }
        self.mfa_challenges.close(mfa_token);
        let account = store.account_get(challenge.account_id).await?;
        if account.status != AccountStatus::Active {
            return Err(ServiceError::InvalidCredentials);
        }
        self.open_session(store, &account, challenge.tenant_id, source, user_agent, true, now).await
    }

    /// Starts a session for a fully authenticated account and issues its first tokens.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_session(
        &self,
        store: &dyn Store,
        account: &Account,
        tenant: Option<TenantId>,
        source: Option<String>,
        user_agent: Option<String>,
        mfa_enrolled: bool,
        now: DateTime<Utc>,
    ) -> ServiceResult<TokenResponse> {
        let (refresh_token, refresh_hash) = new_refresh_token();
        let session = Session {
            id: SessionId::generate(),
            account_id: account.id,
            tenant_id: tenant,
            created_at: now,
            last_used_at: now,
            expires_at: now + chrono::Duration::from_std(self.refresh_token_ttl).unwrap_or(chrono::Duration::days(14)),
            revoked_at: None,
            ip: source,
            user_agent,
        };
        let catalog = self.roles.for_tenant(store, tenant).await?;
        store.session_create(&session, &refresh_hash).await?;
        let entry = entry_for(account, tenant, &catalog, true, mfa_enrolled);
        let access_token = self
            .tokens
            .issue(account.id, session.id, tenant, entry.role_names.clone(), now)
            .map_err(|e| ServiceError::internal(&e))?;
        self.sessions.insert(session.id, entry);
        Ok(TokenResponse { access_token, refresh_token, token_type: "Bearer", expires_in: self.tokens.ttl.as_secs() })
    }

    /// Exchanges a refresh token for a new pair. Each works once; presenting a used one
    /// ends the whole session.
    pub async fn refresh(&self, store: &dyn Store, presented: &str, now: DateTime<Utc>) -> ServiceResult<TokenResponse> {
        let (refresh_token, next_hash) = new_refresh_token();
        match store.session_refresh(&secret_token::digest(presented), &next_hash, now).await? {
            RefreshOutcome::Rotated(session) => {
                let account = store.account_get(session.account_id).await?;
                if account.status != AccountStatus::Active {
                    return Err(ServiceError::InvalidRefreshToken("the account is disabled".into()));
                }
                let mfa_enrolled = mfa::is_enrolled(store, account.id).await?;
                let catalog = self.roles.for_tenant(store, session.tenant_id).await?;
                let entry = entry_for(&account, session.tenant_id, &catalog, true, mfa_enrolled);
                let access_token = self
                    .tokens
                    .issue(account.id, session.id, session.tenant_id, entry.role_names.clone(), now)
                    .map_err(|e| ServiceError::internal(&e))?;
                self.sessions.insert(session.id, entry);
                Ok(TokenResponse { access_token, refresh_token, token_type: "Bearer", expires_in: self.tokens.ttl.as_secs() })
            }
            RefreshOutcome::Reused(session) => {
                self.sessions.revoke(session);
                tracing::warn!(%session, "a used refresh token was presented again; the session is revoked");
                Err(ServiceError::InvalidRefreshToken("this refresh token was already used; the session is revoked".into()))
            }
            RefreshOutcome::Inactive(_) => Err(ServiceError::InvalidRefreshToken("the session has ended".into())),
            RefreshOutcome::Unknown => Err(ServiceError::InvalidRefreshToken("unknown refresh token".into())),
        }
    }
}

/// Audits a failed login, and a lockout when this failure caused one. The
/// attempt may name an e-mail that has no account: it is recorded as typed.
async fn record_failure(
    store: &dyn Store,
    email: &str,
    source: Option<String>,
    by_email: FailureOutcome,
    by_source: FailureOutcome,
    at: DateTime<Utc>,
) {
    let change = ChangeContext {
        actor: Actor { kind: "anonymous".into(), id: None, label: "login attempt".into() },
        request_id: None,
        source,
        at,
    };
    let details = serde_json::json!({ "failures_for_email": by_email.failures, "failures_from_source": by_source.failures });
    let target = Some(email.chars().take(LOGIN_TARGET_CHARS_MAX).collect::<String>());
    let mut events = vec!["identity.login.fail"];
    if by_email.locked || by_source.locked {
        events.push("identity.login.lockout");
    }
    for action in events {
        if let Err(err) = store.audit_record(None, &change, action, "login", target.clone(), Some(details.clone())).await {
            tracing::error!(error = %err, "could not audit a failed login");
        }
    }
}

/// The tenant a login acts in: the one asked for (the account must hold a role
/// there), or the only tenant the account has roles in.
async fn choose_tenant(tenants: &TenantCache, account: &Account, asked: Option<&str>) -> ServiceResult<Option<TenantId>> {
    let platform = account.roles.iter().any(|role| role.tenant_id.is_none());
    let mut held: Vec<TenantId> = account.roles.iter().filter_map(|role| role.tenant_id).collect();
    held.dedup();
    match asked {
        Some(name) => {
            let no_role = || ServiceError::forbidden(format!("the account has no role in tenant '{name}'"));
            let tenant = match tenants.find(name).await {
                Ok(tenant) => tenant,
                Err(StoreError::NotFound) => return Err(no_role()),
                Err(err) => return Err(err.into()),
            };
            if !platform && !held.contains(&tenant.id) {
                return Err(no_role());
            }
            if tenant.status != TenantStatus::Active {
                return Err(ServiceError::TenantSuspended {
                    slug: tenant.slug.as_str().to_owned(),
                    status: tenant.status.as_str(),
                });
            }
            Ok(Some(tenant.id))
        }
        None => match held.as_slice() {
            [only] => Ok(Some(*only)),
            [] if platform => Ok(None),
            [] => Err(ServiceError::forbidden("the account holds no role in any tenant")),
            _ => Err(ServiceError::TenantRequired { field: "tenant" }),
        },
    }
}
