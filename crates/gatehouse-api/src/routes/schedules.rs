//! `/api/v1/schedules`: weekly schedules in the site's time zone, with holidays and one-off exceptions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{NewSchedule, Schedule, SchedulePatch};
use gatehouse_domain::ScheduleId;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;

/// Create a schedule: weekly intervals (`end` at or before `start` runs past midnight; `24:00` is the end of the day), optionally a holiday calendar whose days follow the `hol` intervals, and one-off exceptions.
#[utoipa::path(
    post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = Schedule), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_schedule(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewSchedule>,
) -> ApiResult<(StatusCode, Json<Schedule>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let created = state.policy.schedule_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List schedules.
#[utoipa::path(
    get, path = "/api/v1/schedules", tag = "schedules", params(TenantHeader, PageQuery),
    responses((status = 200, body = List<Schedule>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_schedules(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<Schedule>>> {
    Ok(Json(state.store.schedule_list(ctx.tenant_id(), query.page()?).await?.into()))
}

/// Get a schedule.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}", tag = "schedules", params(TenantHeader, ("id" = ScheduleId, Path)),
    responses((status = 200, body = Schedule), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_schedule(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ScheduleId>,
) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.store.schedule_get(ctx.tenant_id(), id).await?))
}

/// Change a schedule; `intervals` and `exceptions` are replaced whole. Decisions use the new plan at once.
#[utoipa::path(
    patch, path = "/api/v1/schedules/{id}", tag = "schedules", request_body = SchedulePatch, params(TenantHeader, ("id" = ScheduleId, Path)),
    responses((status = 200, body = Schedule), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_schedule(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ScheduleId>,
    ApiJson(patch): ApiJson<SchedulePatch>,
) -> ApiResult<Json<Schedule>> {
    let tenant = ctx.tenant_id();
    let updated = state.policy.schedule_update(tenant, id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete a schedule no access level or door uses (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/schedules/{id}", tag = "schedules", params(TenantHeader, ("id" = ScheduleId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_schedule(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ScheduleId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.schedule_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
