//! `/api/v1/access-levels`: access levels: sets of (access point or zone, schedule).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{AccessLevel, AccessLevelPatch, NewAccessLevel};
use gatehouse_domain::AccessLevelId;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;

/// Create an access level. A zone entry covers every access point in the zone and the zones inside it; an entry without a schedule is open at all times.
#[utoipa::path(
    post, path = "/api/v1/access-levels", tag = "access levels", request_body = NewAccessLevel, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = AccessLevel), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_access_level(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewAccessLevel>,
) -> ApiResult<(StatusCode, Json<AccessLevel>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let created = state.policy.access_level_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List access levels.
#[utoipa::path(
    get, path = "/api/v1/access-levels", tag = "access levels", params(TenantHeader, PageQuery),
    responses((status = 200, body = List<AccessLevel>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_access_levels(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<AccessLevel>>> {
    Ok(Json(state.store.access_level_list(ctx.tenant_id(), query.page()?).await?.into()))
}

/// Get an access level.
#[utoipa::path(
    get, path = "/api/v1/access-levels/{id}", tag = "access levels", params(TenantHeader, ("id" = AccessLevelId, Path)),
    responses((status = 200, body = AccessLevel), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_access_level(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessLevelId>,
) -> ApiResult<Json<AccessLevel>> {
    Ok(Json(state.store.access_level_get(ctx.tenant_id(), id).await?))
}

/// Change an access level; `entries` is replaced whole.
#[utoipa::path(
    patch, path = "/api/v1/access-levels/{id}", tag = "access levels", request_body = AccessLevelPatch, params(TenantHeader, ("id" = AccessLevelId, Path)),
    responses((status = 200, body = AccessLevel), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_access_level(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessLevelId>,
    ApiJson(patch): ApiJson<AccessLevelPatch>,
) -> ApiResult<Json<AccessLevel>> {
    let tenant = ctx.tenant_id();
    let updated = state.policy.access_level_update(tenant, id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete an access level no grant gives (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/access-levels/{id}", tag = "access levels", params(TenantHeader, ("id" = AccessLevelId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_access_level(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessLevelId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.access_level_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
