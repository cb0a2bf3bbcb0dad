//! Login, token refresh, logout, the caller's own view and sessions, and the
//! public keys that verify access tokens.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use chrono::Utc;
use gatehouse_domain::authz::{decide, permitted_scopes, ForTenant, Permission, PermissionSet, Scope, Target};
use gatehouse_domain::identity::{Account, Password, RoleAssignment, Session};
use gatehouse_domain::{SessionId, TenantId};
use gatehouse_services::identity::login::{LoginAttempt, LoginOutcome, TokenResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{user_agent, AuthenticatedCaller, Caller, ClientAddress, Principal};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::pagination::List;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: Password,
    /// The tenant (id or slug) to act in; needed when the account has roles in several.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
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
    let attempt = LoginAttempt {
        email: &login.email,
        password: &login.password,
        tenant: login.tenant.as_deref(),
        source,
        user_agent: user_agent(&headers),
    };
    Ok(Json(match state.identity.login(state.store.as_ref(), &state.tenants, attempt, Utc::now()).await? {
        LoginOutcome::Tokens(tokens) => LoginResponse::Tokens(tokens),
        LoginOutcome::MfaRequired { mfa_token } => LoginResponse::MfaRequired(MfaRequired { mfa_required: true, mfa_token }),
    }))
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

/// Exchange a refresh token for a new access and refresh token. Each refresh
/// token works once; presenting a used one ends the whole session.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = "4XX", body = Problem, content_type = "application/problem+json"))
)]
pub async fn refresh(State(state): State<AppState>, ApiJson(request): ApiJson<RefreshRequest>) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(state.identity.refresh(state.store.as_ref(), &request.refresh_token, Utc::now()).await?))
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
    let (current, new) = (&request.current_password, &request.new_password);
    state.identity.change_password(state.store.as_ref(), account_id, session_id, current, new, &caller.change()).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let (token, new) = (&request.reset_token, &request.new_password);
    state.identity.reset_password(state.store.as_ref(), token, new, source, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
