use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::tenancy::{AccessPoint, AccessPointKind, AccessPointPatch, NewAccessPoint};
use gatehouse_domain::{AccessPointId, ZoneId};
use gatehouse_store::AccessPointFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{filter_text, ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessPointQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub zone_id: Option<ZoneId>,
    pub kind: Option<AccessPointKind>,
    /// Case-insensitive substring of the name.
    #[param(max_length = 200)]
    pub name: Option<String>,
}

/// Create an access point (door, gate, barrier, turnstile, elevator floor) in a zone.
#[utoipa::path(
    post, path = "/api/v1/access-points", tag = "access points", request_body = NewAccessPoint, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = AccessPoint), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_access_point(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewAccessPoint>,
) -> ApiResult<(StatusCode, Json<AccessPoint>)> {
    ctx.require_zone(&state, new.zone_id).await?;
    let access_point = state.policy.access_point_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(access_point)))
}

/// List access points.
#[utoipa::path(
    get, path = "/api/v1/access-points", tag = "access points", params(TenantHeader, AccessPointQuery),
    responses((status = 200, body = List<AccessPoint>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_access_points(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AccessPointQuery>,
) -> ApiResult<Json<List<AccessPoint>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = AccessPointFilter {
        zone_id: query.zone_id,
        kind: query.kind,
        name_contains: filter_text("name", query.name)?,
        within: ctx.within(&state).await?.map(|within| within.zones()),
    };
    Ok(Json(state.store.access_point_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get an access point.
#[utoipa::path(
    get, path = "/api/v1/access-points/{id}", tag = "access points", params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 200, body = AccessPoint), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_access_point(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
) -> ApiResult<Json<AccessPoint>> {
    let access_point = state.store.access_point_get(ctx.tenant_id(), id).await?;
    ctx.require_zone(&state, access_point.zone_id).await?;
    Ok(Json(access_point))
}

/// Rename, re-kind or move an access point.
#[utoipa::path(
    patch, path = "/api/v1/access-points/{id}", tag = "access points", request_body = AccessPointPatch,
    params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 200, body = AccessPoint), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_access_point(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
    ApiJson(patch): ApiJson<AccessPointPatch>,
) -> ApiResult<Json<AccessPoint>> {
    if let Some(within) = ctx.within(&state).await? {
        // Where it is, and where the change would move it.
        within.check_zone(state.store.access_point_get(ctx.tenant_id(), id).await?.zone_id)?;
        patch.zone_id.map(|zone| within.check_zone(zone)).transpose()?;
    }
    let updated = state.policy.access_point_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete an access point.
#[utoipa::path(
    delete, path = "/api/v1/access-points/{id}", tag = "access points", params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_access_point(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
) -> ApiResult<StatusCode> {
    if let Some(within) = ctx.within(&state).await? {
        within.check_zone(state.store.access_point_get(ctx.tenant_id(), id).await?.zone_id)?;
    }
    state.policy.access_point_delete(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
