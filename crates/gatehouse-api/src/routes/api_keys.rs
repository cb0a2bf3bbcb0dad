//! API keys of the tenant's integrations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::authz::Scope;
use gatehouse_domain::identity::{ApiKey, NewApiKey};
use gatehouse_domain::ApiKeyId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;
use gatehouse_services::identity::api_keys;
use gatehouse_services::identity::roles::check_grantable;
use gatehouse_services::secret_token;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// A key just created: the only time `key` is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// Send as `Authorization: Bearer gh_…`. Store it now: it cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub details: ApiKey,
}

/// Create an API key holding one role in this tenant (only a role whose permissions the caller holds).
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api keys", request_body = NewApiKey, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = CreatedApiKey), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_api_key(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let now = ctx.now();
    if new.expires_at.is_some_and(|expires| expires <= now) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let held = ctx.held_tenant_wide(now);
    let catalog = state.identity.roles.for_tenant(state.store.as_ref(), Some(ctx.tenant_id())).await?;
    check_grantable(&catalog, &new.role, held, "role")?;
    let scope = new.scope.map(|scope| scope.to_scope()).transpose()?.unwrap_or(Scope::Tenant);
    let (key, digest) = secret_token::generate(api_keys::API_KEY_PREFIX);
    let record = ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: ctx.tenant_id(),
        name: new.name,
        role: new.role,
        scope,
        prefix: api_keys::display_prefix(&key),
        created_at: now,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let details = state.store.api_key_create(ctx.tenant_id(), &record, &digest, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key, details })))
}

/// The tenant's API keys, with prefix and last use (never the key).
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api keys", params(TenantHeader, ApiKeyQuery),
    responses((status = 200, body = List<ApiKey>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_api_keys(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ApiKeyQuery>,
) -> ApiResult<Json<List<ApiKey>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.store.api_key_list(ctx.tenant_id(), page).await?.into()))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api keys", params(TenantHeader, ("id" = ApiKeyId, Path)),
    responses((status = 200, body = ApiKey), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn revoke_api_key(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<Json<ApiKey>> {
    let revoked = state.store.api_key_revoke(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    state.identity.api_keys.forget(id);
    Ok(Json(revoked))
}
