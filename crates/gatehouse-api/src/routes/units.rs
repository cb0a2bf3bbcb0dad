use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::tenancy::{NewUnit, Unit, UnitPatch};
use gatehouse_domain::{UnitId, ZoneId};
use gatehouse_store::UnitFilter;
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
pub struct UnitQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub zone_id: Option<ZoneId>,
    /// Case-insensitive substring of the name.
    #[param(max_length = 200)]
    pub name: Option<String>,
}

/// Create a unit (an apartment, office or room) in a zone.
#[utoipa::path(
    post, path = "/api/v1/units", tag = "units", request_body = NewUnit, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Unit), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_unit(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUnit>,
) -> ApiResult<(StatusCode, Json<Unit>)> {
    ctx.require_zone(&state, new.zone_id).await?;
    let unit = state.store.unit_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(unit)))
}

/// List units.
#[utoipa::path(
    get, path = "/api/v1/units", tag = "units", params(TenantHeader, UnitQuery),
    responses((status = 200, body = List<Unit>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_units(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<UnitQuery>,
) -> ApiResult<Json<List<Unit>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = UnitFilter {
        zone_id: query.zone_id,
        name_contains: filter_text("name", query.name)?,
        within: ctx.within(&state).await?.map(|within| within.zones()),
    };
    Ok(Json(state.store.unit_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a unit.
#[utoipa::path(
    get, path = "/api/v1/units/{id}", tag = "units", params(TenantHeader, ("id" = UnitId, Path)),
    responses((status = 200, body = Unit), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_unit(ctx: TenantContext, State(state): State<AppState>, ApiPath(id): ApiPath<UnitId>) -> ApiResult<Json<Unit>> {
    let unit = state.store.unit_get(ctx.tenant_id(), id).await?;
    ctx.require_zone(&state, unit.zone_id).await?;
    Ok(Json(unit))
}

/// Rename a unit or move it to another zone.
#[utoipa::path(
    patch, path = "/api/v1/units/{id}", tag = "units", request_body = UnitPatch, params(TenantHeader, ("id" = UnitId, Path)),
    responses((status = 200, body = Unit), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_unit(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UnitId>,
    ApiJson(patch): ApiJson<UnitPatch>,
) -> ApiResult<Json<Unit>> {
    if let Some(within) = ctx.within(&state).await? {
        // Where it is, and where the change would move it.
        within.check_zone(state.store.unit_get(ctx.tenant_id(), id).await?.zone_id)?;
        patch.zone_id.map(|zone| within.check_zone(zone)).transpose()?;
    }
    Ok(Json(state.store.unit_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?))
}

/// Delete a unit nobody belongs to any more (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/units/{id}", tag = "units", params(TenantHeader, ("id" = UnitId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_unit(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<UnitId>,
) -> ApiResult<StatusCode> {
    if let Some(within) = ctx.within(&state).await? {
        within.check_zone(state.store.unit_get(ctx.tenant_id(), id).await?.zone_id)?;
    }
    state.store.unit_delete(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
