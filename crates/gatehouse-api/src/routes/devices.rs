//! `/api/v1/devices`: the device registry and each device's MQTT credentials.
//!
//! Creating a device, or rotating its credentials, answers with its MQTT
//! username and secret once; Gatehouse keeps only the secret's digest.
//! Revoking (or deleting the device) shuts it out of the embedded broker at
//! once: its next packet closes its connection.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_access::chain::EntryKind;
use gatehouse_domain::devices::{
    Command, CommandKind, Device, DeviceKind, DevicePatch, DeviceStatus, NewCommand, NewDevice, COMMAND_EXPIRY_DEFAULT_S,
    COMMAND_PRIORITY_DEFAULT, COMMAND_PRIORITY_RANGE, COMMAND_TIMEOUT_DEFAULT_S,
};
use gatehouse_domain::{AccessPointId, CommandId, DecisionId, DeviceId, ZoneId};
use gatehouse_store::{DeviceFilter, PageRequest, QueuedCommand, Resolution, SeriesPoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{IdempotencyHeader, TenantHeader};
use crate::access::decision::{actor_json, log_entry};
use crate::access::to_micros;
use crate::auth::TenantContext;
use crate::devices::{new_secret, MqttCredentials};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{filter_text, ApiJson, ApiPath, ApiQuery};
use crate::pagination::{page_request, List, PageQuery};
use crate::state::AppState;

/// The most controllers and locks one access point's commands are sent to.
const DRIVERS_PER_ACCESS_POINT_MAX: u32 = 100;
/// The longest telemetry range one read may ask for (the hour rollups are kept about this long).
const TELEMETRY_RANGE_DAYS_MAX: i64 = 800;
/// Without a `step`, ranges up to this long come raw, and up to the next one by the minute.
const TELEMETRY_RAW_RANGE_HOURS_MAX: i64 = 2;
const TELEMETRY_MINUTE_RANGE_DAYS_MAX: i64 = 3;

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

/// Seconds an operator's unlock may wait for an offline controller: an "open now" must not happen later.
const OPERATOR_UNLOCK_EXPIRY_S: i64 = 30;

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
    let seconds = body.seconds.unwrap_or(5);
    if !(1..=3600).contains(&seconds) {
        return Err(ApiError::validation("seconds", "must be from 1 to 3600"));
    }
    crate::routes::doors::require_point(&ctx, &state, id).await?;
    let tenant = ctx.tenant_id();
    state.store.access_point_get(tenant, id).await?;
    let filter = DeviceFilter { access_point_id: Some(id), ..DeviceFilter::default() };
    let drivers: Vec<Device> = state
        .store
        .device_list(tenant, &filter, PageRequest { after: None, limit: DRIVERS_PER_ACCESS_POINT_MAX })
        .await?
        .items
        .into_iter()
        .filter(|device| matches!(device.kind, DeviceKind::Controller | DeviceKind::Lock))
        .collect();
    if drivers.is_empty() {
        return Err(ApiError::no_device("no controller or lock drives this access point; register one with access_point_id set"));
    }
    let change = ctx.caller().change();
    let mut commands = Vec::with_capacity(drivers.len());
    for device in &drivers {
        let queued = QueuedCommand {
            kind: CommandKind::Unlock,
            params: serde_json::json!({"seconds": seconds}),
            priority: *COMMAND_PRIORITY_RANGE.end(),
            timeout_s: COMMAND_TIMEOUT_DEFAULT_S,
            expires_at: change.at + chrono::Duration::seconds(OPERATOR_UNLOCK_EXPIRY_S),
        };
        commands.push(state.store.command_create(tenant, device.id, &queued, &change).await?);
        state.devices.commands.queued(tenant, device.id);
    }
    let mut entry = log_entry(tenant, to_micros(ctx.now()), EntryKind::RemoteUnlock);
    entry.access_point_id = Some(id);
    entry.door_action = Some("unlock".into());
    entry.detail = Some(
        serde_json::json!({
            "by": actor_json(&ctx.caller().actor),
            "seconds": seconds,
            "commands": commands.iter().map(|command| command.id).collect::<Vec<_>>(),
        })
        .to_string(),
    );
    let sealed = state.access.log.append(entry, None).await?;
    Ok((StatusCode::ACCEPTED, Json(UnlockAnswer { decision_id: sealed.id, commands })))
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

/// One point of a series: a raw sample (`value`) or a bucket of samples.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryPoint {
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetrySeries {
    pub metric: String,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    /// `raw`, or the bucket width in seconds.
    pub step: String,
    /// Where the points came from: `raw`, `1m` or `1h` rollups.
    pub source: String,
    pub points: Vec<TelemetryPoint>,
}

/// Most points one answer carries.
const TELEMETRY_POINTS_MAX: u32 = 10_000;
/// Most rows one answer reads.
const TELEMETRY_ROWS_MAX: u32 = 1_000_000;

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
    if !crate::devices::telemetry::is_metric_name(&query.metric) {
        return Err(ApiError::validation("metric", "1 to 64 of a-z, A-Z, 0-9, `_`, `.`, `-`"));
    }
    let to = query.to.unwrap_or_else(|| ctx.now());
    let from = query.from.unwrap_or(to - chrono::Duration::hours(1));
    if from >= to {
        return Err(ApiError::validation("from", "must be before `to`"));
    }
    if to - from > chrono::Duration::days(TELEMETRY_RANGE_DAYS_MAX) {
        return Err(ApiError::validation("from", format!("the range may span at most {TELEMETRY_RANGE_DAYS_MAX} days")));
    }
    let step = match query.step.as_deref() {
        None => {
            let span = to - from;
            if span <= chrono::Duration::hours(TELEMETRY_RAW_RANGE_HOURS_MAX) {
                Step::Raw
            } else if span <= chrono::Duration::days(TELEMETRY_MINUTE_RANGE_DAYS_MAX) {
                Step::Buckets(60)
            } else {
                Step::Buckets(3600)
            }
        }
        Some("raw") => Step::Raw,
        Some("1m") => Step::Buckets(60),
        Some("1h") => Step::Buckets(3600),
        Some(other) => match other.parse::<u32>() {
            Ok(seconds) if seconds >= 60 && seconds % 60 == 0 && seconds <= 31 * 86_400 => Step::Buckets(seconds),
            _ => {
                return Err(ApiError::validation(
                    "step",
                    "raw, 1m, 1h, or a number of seconds that is a multiple of 60 (at most 31 days)",
                ))
            }
        },
    };
    let tenant = ctx.tenant_id();
    state.store.device_get(tenant, id).await?;
    let (resolution, source) = match step {
        Step::Raw => (Resolution::Raw, "raw"),
        Step::Buckets(seconds) if seconds % 3600 == 0 => (Resolution::Hour, "1h"),
        Step::Buckets(_) => (Resolution::Minute, "1m"),
    };
    // Rows per point: one raw sample, or as many rollup rows as fit in a bucket.
    let rows_per_point = match (step, resolution) {
        (Step::Buckets(seconds), Resolution::Minute) => seconds / 60,
        (Step::Buckets(seconds), Resolution::Hour) => seconds / 3600,
        _ => 1,
    };
    let limit = (TELEMETRY_POINTS_MAX + 1).saturating_mul(rows_per_point).min(TELEMETRY_ROWS_MAX);
    // A bucket that began before `from` still covers part of the range.
    let bucket_from = match resolution {
        Resolution::Raw => from,
        Resolution::Minute => floor_to(from, 60),
        Resolution::Hour => floor_to(from, 3600),
    };
    let fetched = state.store.telemetry_series(tenant, id, &query.metric, bucket_from, to, resolution, limit).await?;
    if fetched.len() >= limit as usize && limit == TELEMETRY_ROWS_MAX {
        return Err(ApiError::validation("step", "the range holds too many samples for one answer; narrow the range"));
    }
    let points = match step {
        Step::Raw => fetched
            .into_iter()
            .map(|point| TelemetryPoint {
                at: point.at,
                value: Some(point.sum),
                min: point.min,
                max: point.max,
                avg: point.sum,
                count: 1,
            })
            .collect::<Vec<_>>(),
        Step::Buckets(seconds) => rebucket(fetched, i64::from(seconds)),
    };
    if points.len() > TELEMETRY_POINTS_MAX as usize {
        return Err(ApiError::validation(
            "step",
            format!("the range holds more than {TELEMETRY_POINTS_MAX} points at this step; widen the step or narrow the range"),
        ));
    }
    let step = match step {
        Step::Raw => "raw".to_owned(),
        Step::Buckets(seconds) => seconds.to_string(),
    };
    Ok(Json(TelemetrySeries { metric: query.metric, from, to, step, source: source.to_owned(), points }))
}

fn floor_to(at: chrono::DateTime<chrono::Utc>, seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at.timestamp().div_euclid(seconds) * seconds, 0).unwrap_or(at)
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Raw,
    Buckets(u32),
}

/// Merges rollup rows (oldest first) into buckets `seconds` wide.
fn rebucket(rows: Vec<SeriesPoint>, seconds: i64) -> Vec<TelemetryPoint> {
    let mut points: Vec<TelemetryPoint> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    for row in rows {
        let at = floor_to(row.at, seconds);
        match points.last_mut() {
            Some(last) if last.at == at => {
                last.min = last.min.min(row.min);
                last.max = last.max.max(row.max);
                last.count += row.count;
                if let Some(sum) = sums.last_mut() {
                    *sum += row.sum;
                }
            }
            _ => {
                points.push(TelemetryPoint { at, value: None, min: row.min, max: row.max, avg: 0.0, count: row.count });
                sums.push(row.sum);
            }
        }
    }
    for (point, sum) in points.iter_mut().zip(sums) {
        point.avg = if point.count > 0 { sum / point.count as f64 } else { 0.0 };
    }
    points
}
