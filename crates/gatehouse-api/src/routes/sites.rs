use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::tenancy::{NewSite, Site, SitePatch};
use gatehouse_domain::SiteId;
use gatehouse_store::SiteFilter;
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
pub struct SiteQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive substring of the name.
    #[param(max_length = 200)]
    pub name: Option<String>,
}

/// Create a site.
#[utoipa::path(
    post, path = "/api/v1/sites", tag = "sites", request_body = NewSite, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_site(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewSite>,
) -> ApiResult<(StatusCode, Json<Site>)> {
    let site = state.store.site_create(ctx.tenant_id(), &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(site)))
}

/// List sites.
#[utoipa::path(
    get, path = "/api/v1/sites", tag = "sites", params(TenantHeader, SiteQuery),
    responses((status = 200, body = List<Site>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_sites(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SiteQuery>,
) -> ApiResult<Json<List<Site>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let within = ctx.within(&state).await?.map(|within| within.sites());
    let filter = SiteFilter { name_contains: filter_text("name", query.name)?, within };
    Ok(Json(state.store.site_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a site.
#[utoipa::path(
    get, path = "/api/v1/sites/{id}", tag = "sites", params(TenantHeader, ("id" = SiteId, Path)),
    responses((status = 200, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_site(ctx: TenantContext, State(state): State<AppState>, ApiPath(id): ApiPath<SiteId>) -> ApiResult<Json<Site>> {
    ctx.require_site(&state, id).await?;
    Ok(Json(state.store.site_get(ctx.tenant_id(), id).await?))
}

/// Update a site's name or time zone.
#[utoipa::path(
    patch, path = "/api/v1/sites/{id}", tag = "sites", request_body = SitePatch, params(TenantHeader, ("id" = SiteId, Path)),
    responses((status = 200, body = Site), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_site(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<SiteId>,
    ApiJson(patch): ApiJson<SitePatch>,
) -> ApiResult<Json<Site>> {
    ctx.require_site(&state, id).await?;
    let updated = state.policy.site_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?;
    // The time zone decides when schedules are open.
    Ok(Json(updated))
}

/// Delete a site that has no zones left (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/sites/{id}", tag = "sites", params(TenantHeader, ("id" = SiteId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_site(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<SiteId>,
) -> ApiResult<StatusCode> {
    state.policy.site_delete(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
