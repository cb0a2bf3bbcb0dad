//! `/api/v1/denials`: the deny list. A person on it is refused everywhere, whatever their levels.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{Denial, NewDenial};
use gatehouse_domain::{DenialId, PersonId};
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
pub struct DenialQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub person_id: Option<PersonId>,
}

/// Put a person on the deny list, until `valid_until` or until removed.
#[utoipa::path(
    post, path = "/api/v1/denials", tag = "access levels", request_body = NewDenial, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Denial), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_denial(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewDenial>,
) -> ApiResult<(StatusCode, Json<Denial>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let denial = state.policy.denial_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(denial)))
}

/// List the deny list.
#[utoipa::path(
    get, path = "/api/v1/denials", tag = "access levels", params(TenantHeader, DenialQuery),
    responses((status = 200, body = List<Denial>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_denials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DenialQuery>,
) -> ApiResult<Json<List<Denial>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.store.denial_list(ctx.tenant_id(), query.person_id, page).await?.into()))
}

/// Take a person off the deny list.
#[utoipa::path(
    delete, path = "/api/v1/denials/{id}", tag = "access levels", params(TenantHeader, ("id" = DenialId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_denial(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DenialId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.denial_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
