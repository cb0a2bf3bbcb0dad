//! `/api/v1/grants`: access levels given to people or groups, for ever or between two instants.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{Grant, NewGrant};
use gatehouse_domain::{AccessLevelId, GrantId, GroupId, PersonId};
use gatehouse_store::GrantFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub person_id: Option<PersonId>,
    pub group_id: Option<GroupId>,
    pub access_level_id: Option<AccessLevelId>,
}

/// Give an access level to a person or a group; with `valid_from`/`valid_until` it is temporary.
#[utoipa::path(
    post, path = "/api/v1/grants", tag = "access levels", request_body = NewGrant, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Grant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_grant(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewGrant>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let grant = state.policy.grant_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// List grants.
#[utoipa::path(
    get, path = "/api/v1/grants", tag = "access levels", params(TenantHeader, GrantQuery),
    responses((status = 200, body = List<Grant>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_grants(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> ApiResult<Json<List<Grant>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = GrantFilter { person_id: query.person_id, group_id: query.group_id, access_level_id: query.access_level_id };
    Ok(Json(state.store.grant_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a grant.
#[utoipa::path(
    get, path = "/api/v1/grants/{id}", tag = "access levels", params(TenantHeader, ("id" = GrantId, Path)),
    responses((status = 200, body = Grant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_grant(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<GrantId>,
) -> ApiResult<Json<Grant>> {
    Ok(Json(state.store.grant_get(ctx.tenant_id(), id).await?))
}

/// Take a grant back; the next decision no longer counts it.
#[utoipa::path(
    delete, path = "/api/v1/grants/{id}", tag = "access levels", params(TenantHeader, ("id" = GrantId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_grant(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<GrantId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.grant_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
