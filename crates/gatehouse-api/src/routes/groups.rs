//! `/api/v1/groups`: groups of people (households, departments, custom) that receive access levels together.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{Group, GroupPatch, NewGroup};
use gatehouse_domain::GroupId;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;

/// Create a group, optionally with its members.
#[utoipa::path(
    post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Group), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_group(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let tenant = ctx.tenant_id();
    let created = state.policy.group_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List groups.
#[utoipa::path(
    get, path = "/api/v1/groups", tag = "groups", params(TenantHeader, PageQuery),
    responses((status = 200, body = List<Group>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_groups(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<Group>>> {
    Ok(Json(state.store.group_list(ctx.tenant_id(), query.page()?).await?.into()))
}

/// Get a group.
#[utoipa::path(
    get, path = "/api/v1/groups/{id}", tag = "groups", params(TenantHeader, ("id" = GroupId, Path)),
    responses((status = 200, body = Group), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_group(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<Json<Group>> {
    Ok(Json(state.store.group_get(ctx.tenant_id(), id).await?))
}

/// Rename a group, change its kind or replace its members.
#[utoipa::path(
    patch, path = "/api/v1/groups/{id}", tag = "groups", request_body = GroupPatch, params(TenantHeader, ("id" = GroupId, Path)),
    responses((status = 200, body = Group), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_group(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<GroupId>,
    ApiJson(patch): ApiJson<GroupPatch>,
) -> ApiResult<Json<Group>> {
    let tenant = ctx.tenant_id();
    let updated = state.policy.group_update(tenant, id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete a group no grant names (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}", tag = "groups", params(TenantHeader, ("id" = GroupId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_group(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.group_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
