//! Accounts of a tenant: created by its administrators with roles in it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use gatehouse_domain::authz::{decide, PermissionSet, RoleCatalog, Target};
use gatehouse_domain::identity::{check_password_policy, Account, AccountPatch, NewAccount, NewRoleAssignment, RoleAssignment};
use gatehouse_domain::AccountId;
use gatehouse_store::AccountRecord;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;
use gatehouse_services::identity::roles::check_grantable;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Create an account with roles in this tenant. A caller can only give roles whose
/// permissions it holds itself, tenant-wide.
#[utoipa::path(
    post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccount, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Account), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_account(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    check_password_policy(&new.password, &new.email, new.display_name.as_ref())?;
    let now = ctx.now();
    let held = ctx.held_tenant_wide(now);
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(ctx.tenant_id())).await?;
    let mut roles = Vec::with_capacity(new.roles.len());
    for (index, asked) in new.roles.iter().enumerate() {
        roles.push(assignment_for(&ctx, &catalog, held, asked, &format!("roles[{index}]."))?);
    }
    let password_hash = state.identity.passwords.hash(new.password.expose()).await.map_err(|e| ApiError::internal(&e))?;
    let record = AccountRecord {
        email: new.email,
        display_name: new.display_name,
        password_hash: Some(password_hash),
        roles,
        person_id: new.person_id,
    };
    let mut account = state.store.account_create(Some(ctx.tenant_id()), &record, &ctx.caller().change()).await?;
    account.people.retain(|link| link.tenant_id == ctx.tenant_id());
    Ok((StatusCode::CREATED, Json(account)))
}

/// A new assignment in this tenant, checked: the role exists here and holds no
/// more than `held`, the scope is one place, the window is not empty.
fn assignment_for(
    ctx: &TenantContext,
    catalog: &RoleCatalog,
    held: PermissionSet,
    asked: &NewRoleAssignment,
    prefix: &str,
) -> ApiResult<RoleAssignment> {
    let field = |name: &str| format!("{prefix}{name}");
    if let (Some(from), Some(until)) = (asked.valid_from, asked.valid_until) {
        if until <= from {
            return Err(ApiError::validation(field("valid_until"), "must be after valid_from"));
        }
    }
    check_grantable(catalog, &asked.role, held, &field("role"))?;
    let scope =
        asked.scope.map(|scope| scope.to_scope()).transpose().map_err(|err| ApiError::validation(field("scope"), err.message))?;
    Ok(RoleAssignment {
        id: uuid::Uuid::now_v7(),
        role: asked.role.clone(),
        tenant_id: Some(ctx.tenant_id()),
        scope: scope.unwrap_or(gatehouse_domain::authz::Scope::Tenant),
        valid_from: asked.valid_from,
        valid_until: asked.valid_until,
    })
}

/// Give an account of this tenant one more role here; its sessions hold it from their next request.
/// Only a role whose permissions the caller holds, tenant-wide.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/roles", tag = "accounts", request_body = NewRoleAssignment,
    params(TenantHeader, IdempotencyHeader, ("id" = AccountId, Path)),
    responses((status = 201, body = RoleAssignment), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn add_account_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(asked): ApiJson<NewRoleAssignment>,
) -> ApiResult<(StatusCode, Json<RoleAssignment>)> {
    account_in_tenant(&state, &ctx, id).await?;
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(ctx.tenant_id())).await?;
    let assignment = assignment_for(&ctx, &catalog, ctx.held_tenant_wide(ctx.now()), &asked, "")?;
    state.store.role_assignment_add(ctx.tenant_id(), id, &assignment, &ctx.caller().change()).await?;
    state.identity.sessions.forget_account(id);
    Ok((StatusCode::CREATED, Json(assignment)))
}

/// Take a role in this tenant from an account; its sessions lose it on their next request.
/// Only a role whose permissions the caller holds, tenant-wide.
#[utoipa::path(
    delete, path = "/api/v1/accounts/{id}/roles/{assignment_id}", tag = "accounts",
    params(TenantHeader, ("id" = AccountId, Path), ("assignment_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn remove_account_role(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath((id, assignment_id)): ApiPath<(AccountId, uuid::Uuid)>,
) -> ApiResult<StatusCode> {
    let account = account_in_tenant(&state, &ctx, id).await?;
    let assignment = account
        .roles
        .iter()
        .find(|role| role.id == assignment_id && role.tenant_id == Some(ctx.tenant_id()))
        .ok_or_else(|| ApiError::not_found("the account holds no such role assignment in this tenant"))?;
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(ctx.tenant_id())).await?;
    if !ctx.held_tenant_wide(ctx.now()).includes(catalog.resolve(&assignment.role)) {
        return Err(ApiError::forbidden(format!("taking {} needs every permission it holds, tenant-wide", assignment.role)));
    }
    state.store.role_assignment_remove(ctx.tenant_id(), id, assignment_id, &ctx.caller().change()).await?;
    state.identity.sessions.forget_account(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Accounts holding a role in this tenant.
#[utoipa::path(
    get, path = "/api/v1/accounts", tag = "accounts", params(TenantHeader, AccountQuery),
    responses((status = 200, body = List<Account>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_accounts(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> ApiResult<Json<List<Account>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.store.account_list(ctx.tenant_id(), page).await?.into()))
}

/// An account holding a role in this tenant, with its roles here.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}", tag = "accounts", params(TenantHeader, ("id" = AccountId, Path)),
    responses((status = 200, body = Account), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_account(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
) -> ApiResult<Json<Account>> {
    let mut account = state.store.account_get(id).await?;
    account.roles.retain(|role| role.tenant_id == Some(ctx.tenant_id()));
    account.people.retain(|link| link.tenant_id == ctx.tenant_id());
    if account.roles.is_empty() {
        // Accounts of other tenants do not exist here.
        return Err(ApiError::not_found("no such account in this tenant"));
    }
    Ok(Json(account))
}

/// The account, if it holds a role in this tenant (others do not exist here).
async fn account_in_tenant(state: &AppState, ctx: &TenantContext, id: AccountId) -> ApiResult<Account> {
    let account = match state.store.account_get(id).await {
        Ok(account) => account,
        Err(gatehouse_store::StoreError::NotFound) => return Err(ApiError::not_found("no such account in this tenant")),
        Err(err) => return Err(err.into()),
    };
    if !account.roles.iter().any(|role| role.tenant_id == Some(ctx.tenant_id())) {
        return Err(ApiError::not_found("no such account in this tenant"));
    }
    Ok(account)
}

/// Rename an account, or disable it (its sessions end at once) and enable it again.
#[utoipa::path(
    patch, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = AccountPatch, params(TenantHeader, ("id" = AccountId, Path)),
    responses((status = 200, body = Account), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_account(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(patch): ApiJson<AccountPatch>,
) -> ApiResult<Json<Account>> {
    account_in_tenant(&state, &ctx, id).await?;
    if patch.status == Some(gatehouse_domain::identity::AccountStatus::Disabled) {
        let disable =
            gatehouse_domain::authz::Permission::parse("identity.account.disable").map_err(|e| ApiError::internal(&e))?;
        if !decide(&ctx.caller().assignments, ctx.tenant_id(), disable, Target::Tenant, ctx.now()).allowed {
            return Err(ApiError::forbidden("requires identity.account.disable"));
        }
    }
    let (mut account, revoked) =
        state.store.account_update(Some(ctx.tenant_id()), id, patch.display_name, patch.status, &ctx.caller().change()).await?;
    for session in revoked {
        state.identity.sessions.revoke(session);
    }
    account.roles.retain(|role| role.tenant_id == Some(ctx.tenant_id()));
    account.people.retain(|link| link.tenant_id == ctx.tenant_id());
    Ok(Json(account))
}

/// A password reset for the account: single use, 30 minutes. Until e-mail delivery
/// exists, the link goes to the administrator who asked for it, to pass on.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/password-reset", tag = "accounts", params(TenantHeader, ("id" = AccountId, Path)),
    responses((status = 201, body = PasswordReset), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn start_password_reset(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
) -> ApiResult<(StatusCode, Json<PasswordReset>)> {
    account_in_tenant(&state, &ctx, id).await?;
    let (reset_token, digest) = gatehouse_services::secret_token::generate(PASSWORD_RESET_TOKEN_PREFIX);
    let change = ctx.caller().change();
    let expires_at = change.at + chrono::Duration::minutes(PASSWORD_RESET_MINUTES);
    state.store.password_reset_create(id, &digest, expires_at, &change).await?;
    Ok((StatusCode::CREATED, Json(PasswordReset { reset_token, expires_at })))
}

/// Prefix of password reset tokens.
pub const PASSWORD_RESET_TOKEN_PREFIX: &str = "ghp_";

/// How long a reset token works.
pub const PASSWORD_RESET_MINUTES: i64 = 30;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PasswordReset {
    /// Give this to the account's owner; it works once, at `/api/v1/auth/password/reset`.
    pub reset_token: String,
    pub expires_at: chrono::DateTime<Utc>,
}

/// The account's sessions in this tenant, newest first, for an administrator to review and end.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/sessions", tag = "accounts", params(TenantHeader, ("id" = AccountId, Path)),
    responses((status = 200, body = List<gatehouse_domain::identity::Session>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_account_sessions(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
) -> ApiResult<Json<List<gatehouse_domain::identity::Session>>> {
    account_in_tenant(&state, &ctx, id).await?;
    let mut sessions = state.store.session_list(id).await?;
    sessions.retain(|session| session.tenant_id == Some(ctx.tenant_id()));
    Ok(Json(List { items: sessions, next_cursor: None }))
}
