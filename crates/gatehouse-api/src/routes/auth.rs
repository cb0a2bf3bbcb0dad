//! Login, token refresh, logout, the caller's own view and sessions, and the
//! public keys that verify access tokens.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use std::time::Instant;

use chrono::Utc;
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::authz::{decide, permitted_scopes, ForTenant, Permission, PermissionSet, Scope, Target};
use gatehouse_domain::identity::{Account, AccountStatus, Password, RoleAssignment, Session};
use gatehouse_domain::{SessionId, TenantId};
use gatehouse_store::{RefreshOutcome, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthenticatedCaller, Caller, ClientAddress, Principal};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::identity::mfa;
use crate::identity::sessions::entry_for;
use crate::identity::throttle::{FailureOutcome, Verdict};
use crate::pagination::List;
use crate::secret_token;
use crate::state::AppState;

/// Prefix of refresh tokens, so a leaked one is recognisable.
pub const REFRESH_TOKEN_PREFIX: &str = "ghr_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: Password,
    /// The tenant (id or slug) to act in; needed when the account has roles in several.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

fn new_refresh_token() -> (String, String) {
    secret_token::generate(REFRESH_TOKEN_PREFIX)
}

/// Log in with e-mail and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = "4XX", body = Problem, content_type = "application/problem+json"))
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(source): ClientAddress,
    headers: HeaderMap,
    ApiJson(login): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let email = login.email.trim().to_lowercase();
    let email_key = format!("email:{email}");
    let source_key = format!("source:{}", source.as_deref().unwrap_or("unknown"));
    let throttle = &state.identity.throttle;
    if let Verdict::Blocked { retry_after } = throttle.check(&[&email_key, &source_key], Instant::now()) {
        return Err(ApiError::rate_limited(
            "too many failed logins; wait before trying again",
            retry_after.as_secs_f64().ceil() as u64,
        ));
    }
    let credentials = state.store.account_credentials(&email).await?;
    // Always one argon2id verification, against a decoy hash when the e-mail is
    // unknown: same answer, same cost, whatever is wrong.
    let matched = state
        .identity
        .passwords
        .verify(login.password.expose(), credentials.as_ref().and_then(|c| c.password_hash.as_deref()))
        .await;
    let credentials = match credentials {
        Some(credentials) if matched && credentials.status == AccountStatus::Active => credentials,
        _ => {
            let now = Instant::now();
            let by_email = throttle.fail(&email_key, state.identity.throttle_per_account, now);
            let by_source = throttle.fail(&source_key, state.identity.throttle_per_source, now);
            record_failure(&state, &email, source.clone(), by_email, by_source).await;
            return Err(ApiError::invalid_credentials());
        }
    };
    throttle.succeed(&email_key);
    let account = state.store.account_get(credentials.id).await?;
    let tenant = choose_tenant(&state, &account, login.tenant.as_deref()).await?;
    let user_agent = user_agent(&headers);
    if mfa::is_enrolled(state.store.as_ref(), account.id).await? {
        let mfa_token = state.identity.mfa_challenges.open(account.id, tenant);
        return Ok(Json(LoginResponse::MfaRequired(MfaRequired { mfa_required: true, mfa_token })));
    }
    // No confirmed second factor (checked just above).
    Ok(Json(LoginResponse::Tokens(open_session(&state, &account, tenant, source, user_agent, false).await?)))
}

pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(256).collect())
}

/// Starts a session for a fully authenticated account and issues its first tokens.
pub(crate) async fn open_session(
    state: &AppState,
    account: &Account,
    tenant: Option<TenantId>,
    source: Option<String>,
    user_agent: Option<String>,
    mfa_enrolled: bool,
) -> ApiResult<TokenResponse> {
    let now = Utc::now();
    let (refresh_token, refresh_hash) = new_refresh_token();
    let session = Session {
        id: SessionId::generate(),
        account_id: account.id,
        tenant_id: tenant,
        created_at: now,
        last_used_at: now,
        expires_at: now + chrono::Duration::from_std(state.identity.refresh_token_ttl).unwrap_or(chrono::Duration::days(14)),
        revoked_at: None,
        ip: source,
        user_agent,
    };
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), tenant).await?;
    state.store.session_create(&session, &refresh_hash).await?;
    let entry = entry_for(account, tenant, &catalog, true, mfa_enrolled);
    let access_token = state
        .identity
        .tokens
        .issue(account.id, session.id, tenant, entry.role_names.clone(), now)
        .map_err(|e| ApiError::internal(&e))?;
    state.identity.sessions.insert(session.id, entry);
    Ok(TokenResponse { access_token, refresh_token, token_type: "Bearer", expires_in: state.identity.tokens.ttl.as_secs() })
}

/// What login answers: tokens, or (with a second factor) a challenge to complete.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenResponse),
    MfaRequired(MfaRequired),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always true.
    pub mfa_required: bool,
    /// Single use, five minutes: send it with a code to `/api/v1/auth/mfa/verify`.
    pub mfa_token: String,
}

/// Audits a failed login, and a lockout when this failure caused one. The
/// attempt may name an e-mail that has no account: it is recorded as typed.
async fn record_failure(
    state: &AppState,
    email: &str,
    source: Option<String>,
    by_email: FailureOutcome,
    by_source: FailureOutcome,
) {
    let change = ChangeContext {
        actor: Actor { kind: "anonymous".into(), id: None, label: "login attempt".into() },
        request_id: None,
        source,
        at: Utc::now(),
    };
    let details = serde_json::json!({ "failures_for_email": by_email.failures, "failures_from_source": by_source.failures });
    let target = Some(email.chars().take(254).collect::<String>());
    let mut events = vec!["identity.login.fail"];
    if by_email.locked || by_source.locked {
        events.push("identity.login.lockout");
    }
    for action in events {
        if let Err(err) = state.store.audit_record(None, &change, action, "login", target.clone(), Some(details.clone())).await {
            tracing::error!(error = %err, "could not audit a failed login");
        }
    }
}

/// The tenant a login acts in: the one asked for (the account must hold a role
/// there), or the only tenant the account has roles in.
async fn choose_tenant(state: &AppState, account: &Account, asked: Option<&str>) -> ApiResult<Option<TenantId>> {
    let platform = account.roles.iter().any(|role| role.tenant_id.is_none());
    let mut tenants: Vec<TenantId> = account.roles.iter().filter_map(|role| role.tenant_id).collect();
    tenants.dedup();
    match asked {
        Some(name) => {
            let tenant = match state.tenants.find(name).await {
                Ok(tenant) => tenant,
                Err(StoreError::NotFound) => {
                    return Err(ApiError::forbidden(format!("the account has no role in tenant '{name}'")))
                }
                Err(err) => return Err(err.into()),
            };
            if !platform && !tenants.contains(&tenant.id) {
                return Err(ApiError::forbidden(format!("the account has no role in tenant '{name}'")));
            }
            if tenant.status != gatehouse_domain::tenancy::TenantStatus::Active {
                return Err(ApiError::tenant_suspended(tenant.slug.as_str(), tenant.status.as_str()));
            }
            Ok(Some(tenant.id))
        }
        None => match tenants.as_slice() {
            [only] => Ok(Some(*only)),
            [] if platform => Ok(None),
            [] => Err(ApiError::forbidden("the account holds no role in any tenant")),
            _ => Err(ApiError::tenant_required().with_field("tenant")),
        },
    }
}

/// Exchange a refresh token for a new access and refresh token. Each refresh
/// token works once; presenting a used one ends the whole session.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = "4XX", body = Problem, content_type = "application/problem+json"))
)]
pub async fn refresh(State(state): State<AppState>, ApiJson(request): ApiJson<RefreshRequest>) -> ApiResult<Json<TokenResponse>> {
    let now = Utc::now();
    let (refresh_token, next_hash) = new_refresh_token();
    match state.store.session_refresh(&secret_token::digest(&request.refresh_token), &next_hash, now).await? {
        RefreshOutcome::Rotated(session) => {
            let account = state.store.account_get(session.account_id).await?;
            if account.status != AccountStatus::Active {
                return Err(ApiError::invalid_refresh_token("the account is disabled"));
            }
            let mfa_enrolled = mfa::is_enrolled(state.store.as_ref(), account.id).await?;
            let catalog = state.identity.roles.for_tenant(state.store.as_ref(), session.tenant_id).await?;
            let entry = entry_for(&account, session.tenant_id, &catalog, true, mfa_enrolled);
            let access_token = state
                .identity
                .tokens
                .issue(account.id, session.id, session.tenant_id, entry.role_names.clone(), now)
                .map_err(|e| ApiError::internal(&e))?;
            state.identity.sessions.insert(session.id, entry);
            Ok(Json(TokenResponse {
                access_token,
                refresh_token,
                token_type: "Bearer",
                expires_in: state.identity.tokens.ttl.as_secs(),
            }))
        }
        RefreshOutcome::Reused(session) => {
            state.identity.sessions.revoke(session);
            tracing::warn!(%session, "a used refresh token was presented again; the session is revoked");
            Err(ApiError::invalid_refresh_token("this refresh token was already used; the session is revoked"))
        }
        RefreshOutcome::Inactive(_) => Err(ApiError::invalid_refresh_token("the session has ended")),
        RefreshOutcome::Unknown => Err(ApiError::invalid_refresh_token("unknown refresh token")),
    }
}

fn own_session(caller: &Caller) -> ApiResult<SessionId> {
    match caller.principal {
        Principal::Account { session_id, .. } => Ok(session_id),
        Principal::Bootstrap | Principal::ApiKey { .. } => {
            Err(ApiError::validation("Authorization", "this credential is not a login session"))
        }
    }
}

/// End the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn logout(AuthenticatedCaller { caller }: AuthenticatedCaller, State(state): State<AppState>) -> ApiResult<StatusCode> {
    let session = own_session(&caller)?;
    state.identity.sessions.revoke(session);
    state.store.session_revoke(session, "logout", &caller.change()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `bootstrap`, `account` or `api_key`.
    pub principal: &'static str,
    pub account: Option<Account>,
    pub session_id: Option<SessionId>,
    /// The tenant the caller's token acts in.
    pub tenant_id: Option<TenantId>,
    /// The role assignments in force for this session.
    pub roles: Vec<RoleAssignment>,
    /// Every permission held now, with the scopes it is held in.
    pub permissions: Vec<HeldPermission>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeldPermission {
    pub permission: String,
    pub scopes: Vec<Scope>,
}

/// The caller: account, tenant, roles, and effective permissions with their scopes.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn me(AuthenticatedCaller { caller }: AuthenticatedCaller, State(state): State<AppState>) -> ApiResult<Json<Me>> {
    let now = caller.at;
    let (principal, account, session_id) = match caller.principal {
        Principal::Bootstrap => ("bootstrap", None, None),
        Principal::ApiKey { .. } => ("api_key", None, None),
        Principal::Account { account_id, session_id } => {
            ("account", Some(state.store.account_get(account_id).await?), Some(session_id))
        }
    };
    let roles = account
        .as_ref()
        .map(|account| {
            account
                .roles
                .iter()
                .filter(|role| role.tenant_id.is_none() || role.tenant_id == caller.bound_tenant)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // With no tenant bound, platform assignments apply in any tenant: show them for "any".
    let tenant = caller.bound_tenant.map_or(ForTenant::Every, ForTenant::One);
    let permissions = PermissionSet::all()
        .iter()
        .filter_map(|permission| {
            let scopes = permitted_scopes(&caller.assignments, tenant, permission, now);
            (!scopes.is_empty()).then(|| HeldPermission { permission: permission.code().to_owned(), scopes })
        })
        .collect();
    Ok(Json(Me { principal, account, session_id, tenant_id: caller.bound_tenant, roles, permissions }))
}

/// The caller's own sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, body = List<Session>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_sessions(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
) -> ApiResult<Json<List<Session>>> {
    let Principal::Account { account_id, .. } = caller.principal else {
        return Ok(Json(List { items: Vec::new(), next_cursor: None }));
    };
    Ok(Json(List { items: state.store.session_list(account_id).await?, next_cursor: None }))
}

/// End a session: one of the caller's own, or (with `identity.session.revoke`) any session of the caller's tenant.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = SessionId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn revoke_session(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<SessionId>,
) -> ApiResult<StatusCode> {
    let session = state.store.session_get(id).await?;
    let own = matches!(caller.principal, Principal::Account { account_id, .. } if account_id == session.account_id);
    if !own {
        // Someone else's session: only an administrator of its tenant may end it;
        // anyone else learns nothing about it.
        let permission = Permission::parse("identity.session.revoke").map_err(|e| ApiError::internal(&e))?;
        let allowed = match session.tenant_id {
            Some(tenant) => {
                (caller.bound_tenant.is_none() || caller.bound_tenant == Some(tenant))
                    && decide(&caller.assignments, tenant, permission, Target::Tenant, caller.at).allowed
            }
            None => caller.holds_platform(permission, caller.at),
        };
        if !allowed {
            return Err(ApiError::not_found("no such session"));
        }
    }
    state.identity.sessions.revoke(id);
    state.store.session_revoke(id, if own { "logout" } else { "revoked by an administrator" }, &caller.change()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens (RFC 7517), including retired keys
/// whose tokens may not have expired yet.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.identity.keys.jwks())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: Password,
    pub new_password: Password,
}

/// Change the caller's password (the current one is required). Every other session ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn change_password(
    AuthenticatedCaller { caller }: AuthenticatedCaller,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let Principal::Account { account_id, session_id } = caller.principal else {
        return Err(ApiError::validation("Authorization", "only an account has a password"));
    };
    let account = state.store.account_get(account_id).await?;
    let credentials = state.store.account_credentials(account.email.as_str()).await?;
    let stored = credentials.as_ref().and_then(|c| c.password_hash.as_deref());
    if !state.identity.passwords.verify(request.current_password.expose(), stored).await {
        return Err(ApiError::validation("current_password", "the current password is wrong"));
    }
    set_password(&state, &account, &request.new_password, Some(session_id), &caller.change()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_password(
    state: &AppState,
    account: &Account,
    password: &Password,
    keep_session: Option<SessionId>,
    change: &gatehouse_domain::audit::ChangeContext,
) -> ApiResult<()> {
    gatehouse_domain::identity::check_password_policy(password, &account.email, account.display_name.as_ref())
        .map_err(|err| ApiError::validation("new_password", err.message))?;
    let hash = state.identity.passwords.hash(password.expose()).await.map_err(|e| ApiError::internal(&e))?;
    for session in state.store.account_set_password(account.id, &hash, keep_session, change).await? {
        state.identity.sessions.revoke(session);
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub reset_token: String,
    pub new_password: Password,
}

/// Set a new password with a reset token (single use, 30 minutes). Every session of the account ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json"))
)]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientAddress(source): ClientAddress,
    ApiJson(request): ApiJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    let digest = secret_token::digest(&request.reset_token);
    // The rules that need no account first, so a too-short password does not spend the token.
    let anyone = gatehouse_domain::values::Email::parse("reset@gatehouse.invalid").map_err(|e| ApiError::internal(&e))?;
    gatehouse_domain::identity::check_password_policy(&request.new_password, &anyone, None)
        .map_err(|err| ApiError::validation("new_password", err.message))?;
    let account_id = state
        .store
        .password_reset_use(&digest, Utc::now())
        .await?
        .ok_or_else(|| ApiError::unauthorized("the reset token is unknown, used or expired"))?;
    let account = state.store.account_get(account_id).await?;
    let change = gatehouse_domain::audit::ChangeContext {
        actor: Actor {
            kind: "account".into(),
            id: Some(account.id.as_uuid()),
            label: format!("{} (password reset)", account.email),
        },
        request_id: None,
        source,
        at: Utc::now(),
    };
    set_password(&state, &account, &request.new_password, None, &change).await?;
    Ok(StatusCode::NO_CONTENT)
}
