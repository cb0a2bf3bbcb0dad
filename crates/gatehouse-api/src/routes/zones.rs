use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::tenancy::{NewZone, Zone, ZoneKind, ZonePatch};
use gatehouse_domain::{SiteId, ZoneId};
use gatehouse_store::ZoneFilter;
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
pub struct ZoneQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub site_id: Option<SiteId>,
    /// Only the direct children of this zone.
    pub parent_id: Option<ZoneId>,
    /// Only zones with no parent.
    pub top_level: Option<bool>,
    pub kind: Option<ZoneKind>,
    /// Case-insensitive substring of the name.
    #[param(max_length = 200)]
    pub name: Option<String>,
}

/// Create a zone, at the top of its site or under a parent zone of the same site.
#[utoipa::path(
    post, path = "/api/v1/zones", tag = "zones", request_body = NewZone, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Zone), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_zone(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewZone>,
) -> ApiResult<(StatusCode, Json<Zone>)> {
    match new.parent_id {
        Some(parent) => ctx.require_zone(&state, parent).await?,
        None => ctx.require_site(&state, new.site_id).await?,
    }
    let zone = state.policy.zone_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    // A zone inside a zone an access level names is covered by it.
    Ok((StatusCode::CREATED, Json(zone)))
}

/// List zones.
#[utoipa::path(
    get, path = "/api/v1/zones", tag = "zones", params(TenantHeader, ZoneQuery),
    responses((status = 200, body = List<Zone>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_zones(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ZoneQuery>,
) -> ApiResult<Json<List<Zone>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = ZoneFilter {
        site_id: query.site_id,
        parent_id: query.parent_id,
        top_level: query.top_level.unwrap_or(false),
        kind: query.kind,
        name_contains: filter_text("name", query.name)?,
        within: ctx.within(&state).await?.map(|within| within.zones()),
    };
    Ok(Json(state.store.zone_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a zone.
#[utoipa::path(
    get, path = "/api/v1/zones/{id}", tag = "zones", params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 200, body = Zone), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_zone(ctx: TenantContext, State(state): State<AppState>, ApiPath(id): ApiPath<ZoneId>) -> ApiResult<Json<Zone>> {
    ctx.require_zone(&state, id).await?;
    Ok(Json(state.store.zone_get(ctx.tenant_id(), id).await?))
}

/// Rename, re-kind or move a zone within its site (never under itself or a descendant).
#[utoipa::path(
    patch, path = "/api/v1/zones/{id}", tag = "zones", request_body = ZonePatch, params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 200, body = Zone), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_zone(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ZoneId>,
    ApiJson(patch): ApiJson<ZonePatch>,
) -> ApiResult<Json<Zone>> {
    if let Some(within) = ctx.within(&state).await? {
        within.check_zone(id)?;
        match patch.parent_id {
            Some(Some(parent)) => within.check_zone(parent)?,
            // To the top of its site: the caller must reach the whole site.
            Some(None) => within.check_site(state.store.zone_get(ctx.tenant_id(), id).await?.site_id)?,
            None => {}
        }
    }
    let updated = state.policy.zone_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete a zone that holds no zones, units or access points (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/zones/{id}", tag = "zones", params(TenantHeader, ("id" = ZoneId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_zone(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ZoneId>,
) -> ApiResult<StatusCode> {
    ctx.require_zone(&state, id).await?;
    state.policy.zone_delete(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
