//! `/api/v1/holidays`: holiday calendars. On a holiday a schedule follows its `hol` intervals instead of the weekday's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::policy::{HolidayCalendar, HolidayCalendarPatch, NewHolidayCalendar};
use gatehouse_domain::HolidayCalendarId;

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;

/// Create a holiday calendar; a `recurring` day repeats every year.
#[utoipa::path(
    post, path = "/api/v1/holidays", tag = "schedules", request_body = NewHolidayCalendar, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = HolidayCalendar), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_holiday_calendar(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewHolidayCalendar>,
) -> ApiResult<(StatusCode, Json<HolidayCalendar>)> {
    new.check()?;
    let tenant = ctx.tenant_id();
    let created = state.policy.holiday_calendar_create(tenant, &new, &ctx.caller().change()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List holiday calendars.
#[utoipa::path(
    get, path = "/api/v1/holidays", tag = "schedules", params(TenantHeader, PageQuery),
    responses((status = 200, body = List<HolidayCalendar>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_holiday_calendars(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<HolidayCalendar>>> {
    Ok(Json(state.store.holiday_calendar_list(ctx.tenant_id(), query.page()?).await?.into()))
}

/// Get a holiday calendar.
#[utoipa::path(
    get, path = "/api/v1/holidays/{id}", tag = "schedules", params(TenantHeader, ("id" = HolidayCalendarId, Path)),
    responses((status = 200, body = HolidayCalendar), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_holiday_calendar(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<HolidayCalendarId>,
) -> ApiResult<Json<HolidayCalendar>> {
    Ok(Json(state.store.holiday_calendar_get(ctx.tenant_id(), id).await?))
}

/// Change a holiday calendar; `days` is replaced whole.
#[utoipa::path(
    patch, path = "/api/v1/holidays/{id}", tag = "schedules", request_body = HolidayCalendarPatch, params(TenantHeader, ("id" = HolidayCalendarId, Path)),
    responses((status = 200, body = HolidayCalendar), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_holiday_calendar(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<HolidayCalendarId>,
    ApiJson(patch): ApiJson<HolidayCalendarPatch>,
) -> ApiResult<Json<HolidayCalendar>> {
    let tenant = ctx.tenant_id();
    let updated = state.policy.holiday_calendar_update(tenant, id, &patch, &ctx.caller().change()).await?;
    Ok(Json(updated))
}

/// Delete a holiday calendar no schedule uses (409 otherwise).
#[utoipa::path(
    delete, path = "/api/v1/holidays/{id}", tag = "schedules", params(TenantHeader, ("id" = HolidayCalendarId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_holiday_calendar(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<HolidayCalendarId>,
) -> ApiResult<StatusCode> {
    let tenant = ctx.tenant_id();
    state.policy.holiday_calendar_delete(tenant, id, &ctx.caller().change()).await?;
    Ok(StatusCode::NO_CONTENT)
}
