//! `/api/v1/devices`: the device registry and each device's MQTT credentials.
//!
//! Creating a device, or rotating its credentials, answers with its MQTT
//! username and secret once; Gatehouse keeps only the secret's digest.
//! Revoking (or deleting the device) shuts it out of the embedded broker at
//! once: its next packet closes its connection.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::devices::{Device, DeviceKind, DevicePatch, DeviceStatus, NewDevice};
use gatehouse_domain::{AccessPointId, DeviceId, ZoneId};
use gatehouse_store::DeviceFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{IdempotencyHeader, TenantHeader};
use crate::auth::TenantContext;
use crate::devices::{new_secret, MqttCredentials};
use crate::error::{ApiResult, Problem};
use crate::extract::{filter_text, ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List};
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
    post, path = "/devices", tag = "devices", request_body = NewDevice, params(TenantHeader, IdempotencyHeader),
    responses((status = 201, body = DeviceWithCredentials), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceWithCredentials>)> {
    let (secret, digest) = new_secret();
    let device = state.store.device_create(ctx.tenant_id(), &new, digest, &ctx.caller.change()).await?;
    let mqtt = MqttCredentials::new(device.tenant_id, device.id, secret);
    Ok((StatusCode::CREATED, Json(DeviceWithCredentials { device, mqtt })))
}

/// List devices.
#[utoipa::path(
    get, path = "/devices", tag = "devices", params(TenantHeader, DeviceQuery),
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
    get, path = "/devices/{id}", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
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
    patch, path = "/devices/{id}", tag = "devices", request_body = DevicePatch, params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
    ApiJson(patch): ApiJson<DevicePatch>,
) -> ApiResult<Json<Device>> {
    let device = state.store.device_update(ctx.tenant_id(), id, &patch, &ctx.caller.change()).await?;
    state.devices.directory.forget(id);
    Ok(Json(device))
}

/// Delete a device; it is shut out of the broker at once.
#[utoipa::path(
    delete, path = "/devices/{id}", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete_device(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<StatusCode> {
    state.store.device_delete(ctx.tenant_id(), id, &ctx.caller.change()).await?;
    state.devices.shut_out(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Issue new MQTT credentials (shown once); the old secret stops working at once.
#[utoipa::path(
    post, path = "/devices/{id}/credentials", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = DeviceWithCredentials), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn rotate_device_credentials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<Json<DeviceWithCredentials>> {
    let (secret, digest) = new_secret();
    let device = state.store.device_set_secret(ctx.tenant_id(), id, Some(digest), &ctx.caller.change()).await?;
    state.devices.shut_out(id);
    let mqtt = MqttCredentials::new(device.tenant_id, device.id, secret);
    Ok(Json(DeviceWithCredentials { device, mqtt }))
}

/// Revoke the device's MQTT credentials: it is disconnected and cannot connect until new ones are issued.
#[utoipa::path(
    delete, path = "/devices/{id}/credentials", tag = "devices", params(TenantHeader, ("id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn revoke_device_credentials(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<Json<Device>> {
    let device = state.store.device_set_secret(ctx.tenant_id(), id, None, &ctx.caller.change()).await?;
    state.devices.shut_out(id);
    Ok(Json(device))
}
