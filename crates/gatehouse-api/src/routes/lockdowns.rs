//! `/api/v1/lockdowns`: lock a site, a zone or the whole tenant. While a lockdown
//! holds only lockdown-exempt levels pass; releasing it restores the door modes
//! that were in force (they were never changed). Logged and audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::chain::EntryKind;
use gatehouse_access::policy::{Lockdown, NewLockdown};
use gatehouse_domain::LockdownId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
use crate::state::AppState;
use gatehouse_services::access::decision::{actor_json, log_entry};
use gatehouse_services::access::to_micros;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LockdownQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Only lockdowns in force.
    pub active: Option<bool>,
}

async fn log(state: &AppState, ctx: &TenantContext, kind: EntryKind, lockdown: &Lockdown) -> ApiResult<()> {
    let mut entry = log_entry(ctx.tenant_id(), to_micros(ctx.now()), kind);
    entry.detail = Some(serde_json::json!({"lockdown": lockdown, "by": actor_json(&ctx.caller().actor)}).to_string());
    state.access.log.append(entry, None).await?;
    Ok(())
}

/// Start a lockdown. The next decision inside it is refused with `lockdown` unless an exempt level covers the door.
#[utoipa::path(
    post, path = "/api/v1/lockdowns", tag = "access", request_body = NewLockdown, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Lockdown), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_lockdown(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewLockdown>,
) -> ApiResult<(StatusCode, Json<Lockdown>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let lockdown = state.policy.lockdown_create(tenant, &new, &ctx.caller().change()).await?;
    log(&state, &ctx, EntryKind::Lockdown, &lockdown).await?;
    Ok((StatusCode::CREATED, Json(lockdown)))
}

/// List lockdowns (`?active=true`: only those in force).
#[utoipa::path(
    get, path = "/api/v1/lockdowns", tag = "access", params(TenantHeader, LockdownQuery),
    responses((status = 200, body = List<Lockdown>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_lockdowns(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LockdownQuery>,
) -> ApiResult<Json<List<Lockdown>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.store.lockdown_list(ctx.tenant_id(), query.active.unwrap_or(false), page).await?.into()))
}

/// Get a lockdown.
#[utoipa::path(
    get, path = "/api/v1/lockdowns/{id}", tag = "access", params(TenantHeader, ("id" = LockdownId, Path)),
    responses((status = 200, body = Lockdown), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_lockdown(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<LockdownId>,
) -> ApiResult<Json<Lockdown>> {
    Ok(Json(state.store.lockdown_get(ctx.tenant_id(), id).await?))
}

/// Release a lockdown: the doors return to the modes they had. Releasing twice changes nothing.
#[utoipa::path(
    delete, path = "/api/v1/lockdowns/{id}", tag = "access", params(TenantHeader, ("id" = LockdownId, Path)),
    responses((status = 200, body = Lockdown), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn release_lockdown(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<LockdownId>,
) -> ApiResult<Json<Lockdown>> {
    let tenant = ctx.tenant_id();
    let before = state.store.lockdown_get(tenant, id).await?;
    let lockdown = state.policy.lockdown_release(tenant, id, &ctx.caller().change()).await?;
    if before.released_at.is_none() {
        log(&state, &ctx, EntryKind::LockdownRelease, &lockdown).await?;
    }
    Ok(Json(lockdown))
}
