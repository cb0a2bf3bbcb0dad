//! `/api/v1/devices`: the device registry and each device's MQTT credentials.
//!
//! Creating a device, or rotating its credentials, answers with its MQTT
//! username and secret once; Gatehouse keeps only the secret's digest.
//! Revoking (or deleting the device) shuts it out of the embedded broker at
//! once: its next packet closes its connection.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::devices::{
    Command, Device, DeviceKind, DevicePatch, DeviceStatus, NewCommand, NewDevice, COMMAND_EXPIRY_DEFAULT_S,
    COMMAND_PRIORITY_DEFAULT, COMMAND_TIMEOUT_DEFAULT_S,
};
use gatehouse_domain::{AccessPointId, CommandId, DecisionId, DeviceId, ZoneId};
use gatehouse_services::devices::operations::{unlock_seconds, SeriesQuery, TelemetrySeries};
use gatehouse_services::devices::{new_secret, MqttCredentials};
use gatehouse_store::{DeviceFilter, QueuedCommand};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{filter_text, ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List, PageQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub kind: Option<DeviceKind>,
    pub status: Option<DeviceStatus>,
    pub access_point_id: Option<AccessPointId>,
    pub zone_id: Option<ZoneId>,
    /// Case-insensitive substring of the name.
    #[param(max_length = 200)]
    pub name: Option<String>,
}

/// A device with the MQTT credentials just issued to it (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceWithCredentials {
    #[serde(flatten)]
    pub device: Device,
    pub mqtt: MqttCredentials,
}

/// Register a device; the answer carries its MQTT credentials, shown once.
#[utoipa::path(
    post, path = "/api/v1/devices", tag = "devices", request_body = NewDevice, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = DeviceWithCredentials), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceWithCredentials>)> {
    let (secret, digest) = new_secret();
    let device = state.store.device_create(ctx.tenant_id(), &new, digest, &ctx.caller().change()).await?;
    let mqtt = MqttCredentials::new(device.tenant_id, device.id, secret);
    Ok((StatusCode::CREATED, Json(DeviceWithCredentials { device, mqtt })))
}

/// List devices.
#[utoipa::path(
    get, path = "/api/v1/devices", tag = "devices", params(TenantHeader, DeviceQuery),
    responses((status = 200, body = List<Device>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_devices(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DeviceQuery>,
) -> ApiResult<Json<List<Device>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = DeviceFilter {
        kind: query.kind,
        status: query.status,
        access_point_id: query.access_point_id,
        zone_id: query.zone_id,
        name_contains: filter_text("name", query.name)?,
    };
    Ok(Json(state.store.device_list(ctx.tenant_id(), &filter, page).await?.into()))
}

/// Get a device, with its status and when it was last heard from.
#[utoipa::path(
    get, path = "/api/v1/devices/{id}", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<Json<Device>> {
    Ok(Json(state.store.device_get(ctx.tenant_id(), id).await?))
}

/// Change a device's description, place or settings (`config` is replaced whole and checked against its kind).
#[utoipa::path(
    patch, path = "/api/v1/devices/{id}", tag = "devices", request_body = DevicePatch, params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
    ApiJson(patch): ApiJson<DevicePatch>,
) -> ApiResult<Json<Device>> {
    let device = state.store.device_update(ctx.tenant_id(), id, &patch, &ctx.caller().change()).await?;
    state.devices.directory.forget(id);
    Ok(Json(device))
}

/// Delete a device; it is shut out of the broker at once.
#[utoipa::path(
    delete, path = "/api/v1/devices/{id}", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<StatusCode> {
    state.store.device_delete(ctx.tenant_id(), id, &ctx.caller().change()).await?;
    state.devices.shut_out(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Issue new MQTT credentials (shown once); the old secret stops working at once.
#[utoipa::path(
    post, path = "/api/v1/devices/{id}/credentials", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = DeviceWithCredentials), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn rotate_device_credentials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<Json<DeviceWithCredentials>> {
    let (secret, digest) = new_secret();
    let device = state.store.device_set_secret(ctx.tenant_id(), id, Some(digest), &ctx.caller().change()).await?;
    state.devices.shut_out(id);
    let mqtt = MqttCredentials::new(device.tenant_id, device.id, secret);
    Ok(Json(DeviceWithCredentials { device, mqtt }))
}

/// Revoke the device's MQTT credentials: it is disconnected and cannot connect until new ones are issued.
#[utoipa::path(
    delete, path = "/api/v1/devices/{id}/credentials", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn revoke_device_credentials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<Json<Device>> {
    let device = state.store.device_set_secret(ctx.tenant_id(), id, None, &ctx.caller().change()).await?;
    state.devices.shut_out(id);
    Ok(Json(device))
}

/// Queue a command for a device: sent with QoS 1 at once if the device is online,
/// in priority order, and resent until acknowledged or timed out; kept for an offline
/// device until it reconnects, unless it expires first (then it is never sent).
#[utoipa::path(
    post, path = "/api/v1/devices/{id}/commands", tag = "devices", request_body = NewCommand, params(TenantHeader, IdempotencyHeader, ("id" = DeviceId, Path)),
    responses((status = 202, body = Command), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_command(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
    ApiJson(new): ApiJson<NewCommand>,
) -> ApiResult<(StatusCode, Json<Command>)> {
    let tenant = ctx.tenant_id();
    let device = state.store.device_get(tenant, id).await?;
    let change = ctx.caller().change();
    let params = new.check(device.kind, change.at).map_err(ApiError::from)?;
    let queued = QueuedCommand {
        kind: new.kind,
        params,
        priority: new.priority.unwrap_or(COMMAND_PRIORITY_DEFAULT),
        timeout_s: new.timeout_s.unwrap_or(COMMAND_TIMEOUT_DEFAULT_S),
        expires_at: new.expires_at.unwrap_or(change.at + chrono::Duration::seconds(COMMAND_EXPIRY_DEFAULT_S)),
    };
    let command = state.store.command_create(tenant, id, &queued, &change).await?;
    state.devices.commands.queued(tenant, id);
    Ok((StatusCode::ACCEPTED, Json(command)))
}

/// A device's commands, newest first.
#[utoipa::path(
    get, path = "/api/v1/devices/{id}/commands", tag = "devices", params(TenantHeader, PageQuery, ("id" = DeviceId, Path)),
    responses((status = 200, body = List<Command>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_commands(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<Command>>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(state.store.command_list(ctx.tenant_id(), id, page).await?.into()))
}

/// A command's state: queued, sent, acknowledged, failed, expired or timed_out, with the device's result.
#[utoipa::path(
    get, path = "/api/v1/devices/{id}/commands/{command_id}", tag = "devices",
    params(TenantHeader, ("id" = DeviceId, Path), ("command_id" = CommandId, Path)),
    responses((status = 200, body = Command), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_command(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath((id, command_id)): ApiPath<(DeviceId, CommandId)>,
) -> ApiResult<Json<Command>> {
    Ok(Json(state.store.command_get(ctx.tenant_id(), id, command_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// How long the door stays released, 1 to 3600 seconds (default 5).
    #[serde(default)]
    pub seconds: Option<u32>,
}

/// What an operator's unlock did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnlockAnswer {
    /// Its access-log entry.
    pub decision_id: DecisionId,
    /// One `unlock` command per controller or lock that drives the door.
    pub commands: Vec<Command>,
}

/// Open this door now: an `unlock` command, at the highest priority, to every controller
/// and lock that drives the access point; logged in the access log and audited.
#[utoipa::path(
    post, path = "/api/v1/access-points/{id}/unlock", tag = "access points", request_body = UnlockRequest,
    params(TenantHeader, ("id" = AccessPointId, Path)),
    responses((status = 202, body = UnlockAnswer), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn unlock_access_point(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccessPointId>,
    ApiJson(body): ApiJson<UnlockRequest>,
) -> ApiResult<(StatusCode, Json<UnlockAnswer>)> {
    let seconds = unlock_seconds(body.seconds)?;
    ctx.require_point(&state, id).await?;
    let unlocked = state.device_operations.unlock(ctx.tenant_id(), id, seconds, &ctx.caller().change()).await?;
    Ok((StatusCode::ACCEPTED, Json(UnlockAnswer { decision_id: unlocked.decision_id, commands: unlocked.commands })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TelemetryQuery {
    /// The metric, as the device names it (`temperature`).
    pub metric: String,
    /// Start of the range (inclusive; a rollup bucket that began earlier but overlaps it is included); default an hour before `to`.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// End of the range (exclusive); default now.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `raw`, `1m`, `1h`, or a bucket width in seconds (a multiple of 60). By default the
    /// range decides: raw samples up to 2 hours, one-minute rollups up to 3 days, hourly beyond.
    pub step: Option<String>,
}

/// A device's measurements of one metric over a range, from raw samples or the rollups the range needs.
#[utoipa::path(
    get, path = "/api/v1/devices/{id}/telemetry", tag = "devices", params(TenantHeader, TelemetryQuery, ("id" = DeviceId, Path)),
    responses((status = 200, body = TelemetrySeries), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get_telemetry(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
    ApiQuery(query): ApiQuery<TelemetryQuery>,
) -> ApiResult<Json<TelemetrySeries>> {
    let asked = SeriesQuery { metric: &query.metric, from: query.from, to: query.to, step: query.step.as_deref() };
    Ok(Json(state.device_operations.telemetry_series(ctx.tenant_id(), id, asked, ctx.now()).await?))
}
