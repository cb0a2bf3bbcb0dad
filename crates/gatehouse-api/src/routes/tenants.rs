//! Tenants, managed by platform operators. A tenant is never deleted: DELETE
//! archives it, and a suspended or archived tenant's API calls get 403.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::tenancy::{NewTenant, Tenant, TenantPatch, TenantStatus};
use gatehouse_store::{StoreError, TenantFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use super::IdempotencyHeader;
use crate::auth::PlatformCaller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub status: Option<TenantStatus>,
}

async fn find(state: &AppState, id_or_slug: &str) -> ApiResult<Tenant> {
    match gatehouse_store::find_tenant(state.store.as_ref(), id_or_slug).await {
        Ok(tenant) => Ok(tenant),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("no tenant '{id_or_slug}'"))),
        Err(err) => Err(err.into()),
    }
}

/// Create a tenant (platform operators only).
#[utoipa::path(
    post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant, params(IdempotencyHeader),
    responses((status = 201, body = Tenant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_tenant(
    platform: PlatformCaller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    let tenant = state.store.tenant_create(&new, &platform.caller.change()).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// List tenants.
#[utoipa::path(
    get, path = "/api/v1/tenants", tag = "tenants", params(TenantQuery),
    responses((status = 200, body = List<Tenant>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_tenants(
    _platform: PlatformCaller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> ApiResult<Json<List<Tenant>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = TenantFilter { status: query.status };
    Ok(Json(state.store.tenant_list(&filter, page).await?.into()))
}

/// Get a tenant by id or slug.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "Tenant id or slug")),
    responses((status = 200, body = Tenant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_tenant(
    _platform: PlatformCaller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(find(&state, &id).await?))
}

/// Rename a tenant, or suspend (`"status": "suspended"`) and reactivate (`"active"`) it.
#[utoipa::path(
    patch, path = "/api/v1/tenants/{id}", tag = "tenants", request_body = TenantPatch,
    params(("id" = String, Path, description = "Tenant id or slug")),
    responses((status = 200, body = Tenant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_tenant(
    platform: PlatformCaller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> ApiResult<Json<Tenant>> {
    let tenant = find(&state, &id).await?;
    let updated = state.store.tenant_update(tenant.id, &patch, &platform.caller.change()).await?;
    state.tenants.clear();
    Ok(Json(updated))
}

/// Archive a tenant. Its data stays (history must), its API calls get 403.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "Tenant id or slug")),
    responses((status = 200, body = Tenant), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn archive_tenant(
    platform: PlatformCaller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Tenant>> {
    let tenant = find(&state, &id).await?;
    let archive = TenantPatch { status: Some(TenantStatus::Archived), name: None, mfa_required_roles: None };
    let archived = state.store.tenant_update(tenant.id, &archive, &platform.caller.change()).await?;
    state.tenants.clear();
    Ok(Json(archived))
}
