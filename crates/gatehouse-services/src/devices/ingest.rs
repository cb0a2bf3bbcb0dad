//! What devices publish, taken in. Each message is acknowledged to the broker
//! only once it is kept, so a QoS 1 message Gatehouse has not handled comes
//! again after a reconnect.
//!
//! - `status`: the device's state (and firmware); a change of state is audited.
//! - `telemetry`: samples, written in batches by [`super::telemetry`].
//! - `events`: door and input events, into the access log (durable before
//!   the acknowledgement); open doors are watched by [`super::watch`].
//! - `cmd/ack`: a command's result, handed to the dispatcher.
//! - `access/req`: decided like `POST /api/v1/access/decide` (logged, durable
//!   before the answer), answered on `access/resp`.
//!
//! A message that cannot be read is refused with a reason on the device's
//! reply channel where it has one, and counted; it never stops the others.

use std::sync::Arc;

use chrono::Utc;
use gatehouse_access::chain::EntryKind;
use gatehouse_access::Direction;
use gatehouse_domain::devices::{Device, DeviceStatus, DoorEventKind};
use gatehouse_domain::{AccessPointId, DeviceId, TenantId};
use gatehouse_mqtt::bus::QoS;
use gatehouse_mqtt::bus::{Incoming, Stray};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};

use gatehouse_store::Store;

use super::commands::CommandAck;
use super::telemetry::read_samples;
use super::watch::audit_status;
use super::watch_state::device_actor;
use super::DeviceService;
use crate::access::decision::{actor_json, decide_and_log, log_entry, Asked};
use crate::access::presented::PresentedCredential;
use crate::access::{now_micros, AccessService};
use crate::error::ServiceError;

/// Access requests decided at once; more wait (in the broker, unacknowledged).
const DECISIONS_IN_FLIGHT_MAX: usize = 512;

/// `…/status`, retained by the device; its last will says `offline`.
#[derive(Debug, Deserialize)]
pub struct StatusMessage {
    pub state: DeviceStatus,
    #[serde(default)]
    pub firmware: Option<String>,
}

/// `…/access/req`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestMessage {
    pub request_id: String,
    pub credential: PresentedCredential,
    #[serde(default)]
    pub pin: Option<String>,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Defaults to the access point the device serves.
    #[serde(default)]
    pub access_point_id: Option<AccessPointId>,
}

/// `…/access/resp`: a decision, or `error` when the request could not be decided.
#[derive(Debug, Serialize, Default)]
pub struct AccessResponseMessage {
    pub request_id: Option<String>,
    pub granted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What the ingest acts on. Not the API's state, which holds the device service itself.
#[derive(Clone)]
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub devices: Arc<DeviceService>,
    /// Decides access requests and keeps device events in the access log.
    pub access: Arc<AccessService>,
}

/// Takes device messages until the bus closes.
pub async fn run(state: Ingest, mut incoming: mpsc::Receiver<Result<Incoming, Stray>>) {
    let decisions = Arc::new(Semaphore::new(DECISIONS_IN_FLIGHT_MAX));
    while let Some(message) = incoming.recv().await {
        let message = match message {
            Ok(message) => message,
            Err(stray) => {
                rejected("unknown", "topic");
                tracing::debug!(topic = %stray.topic, error = %stray.error, "ignored a message on a topic outside the scheme");
                continue;
            }
        };
        metrics::counter!("gatehouse_mqtt_messages_total", "channel" => message.topic.channel.suffix()).increment(1);
        match message.topic.channel {
            Channel::AccessReq => {
                let Ok(permit) = decisions.clone().acquire_owned().await else { return };
                let state = state.clone();
                tokio::spawn(async move {
                    answer_access_request(&state, &message).await;
                    message.ack(&state.devices.bus).await;
                    drop(permit);
                });
            }
            Channel::Status => {
                take_status(&state, &message).await;
                message.ack(&state.devices.bus).await;
            }
            Channel::CmdAck => {
                take_ack(&state, &message).await;
                message.ack(&state.devices.bus).await;
            }
            // Acknowledged by the telemetry writer once written.
            Channel::Telemetry => take_telemetry(&state, message).await,
            Channel::Events => {
                take_event(&state, &message).await;
                message.ack(&state.devices.bus).await;
            }
            // Gatehouse's own channels: a device may not publish there (the embedded
            // broker refuses it; an external one may not).
            Channel::Cmd | Channel::AccessResp => {
                rejected(message.topic.channel.suffix(), "wrong_direction");
                message.ack(&state.devices.bus).await;
            }
        }
    }
}

fn rejected(channel: &'static str, why: &'static str) {
    metrics::counter!("gatehouse_mqtt_rejected_messages_total", "channel" => channel, "why" => why).increment(1);
}

/// The device the topic names, if it is registered in the topic's tenant.
/// Hearing from it is noted, and a device marked offline is marked online again.
async fn device_of(state: &Ingest, topic: &DeviceTopic) -> Option<Arc<Device>> {
    let tenant = TenantId::from_uuid(topic.tenant);
    let device = match state.devices.directory.get(state.store.as_ref(), tenant, DeviceId::from_uuid(topic.device)).await {
        Ok(found) => found?,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the device registry");
            return None;
        }
    };
    let now = Utc::now();
    state.devices.watch.heard(&device, now);
    if device.status == DeviceStatus::Offline && topic.channel != Channel::Status {
        revive(state, &device, now).await;
    }
    Some(device)
}

/// A device marked offline spoke: it is online again.
async fn revive(state: &Ingest, device: &Device, now: chrono::DateTime<Utc>) {
    state.devices.directory.forget(device.id);
    match state.store.device_seen(device.tenant_id, device.id, DeviceStatus::Online, None, now).await {
        Ok(DeviceStatus::Offline) => {
            state.devices.commands.online(device.tenant_id, device.id);
            let details = serde_json::json!({"from": "offline", "to": "online", "reason": "it spoke"});
            audit_status(state.store.as_ref(), device.tenant_id, device.id, DeviceStatus::Online, details).await;
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, device = %device.id, "could not mark a device online"),
    }
}

async fn take_status(state: &Ingest, message: &Incoming) {
    let status: StatusMessage = match serde_json::from_slice(&message.payload) {
        Ok(status) => status,
        Err(err) => {
            rejected("status", "malformed");
            tracing::debug!(topic = %message.topic, error = %err, "ignored a malformed status");
            return;
        }
    };
    let Some(device) = device_of(state, &message.topic).await else {
        rejected("status", "unknown_device");
        return;
    };
    match status.state {
        DeviceStatus::Online | DeviceStatus::Degraded => state.devices.commands.online(device.tenant_id, device.id),
        DeviceStatus::Offline => state.devices.commands.offline(device.id),
    }
    let firmware = status.firmware.as_deref().filter(|firmware| !firmware.is_empty() && firmware.len() <= 128);
    let now = Utc::now();
    state.devices.directory.forget(device.id);
    match state.store.device_seen(device.tenant_id, device.id, status.state, firmware, now).await {
        Ok(before) if before != status.state => {
            let details = serde_json::json!({"from": before, "to": status.state, "firmware": firmware});
            audit_status(state.store.as_ref(), device.tenant_id, device.id, status.state, details).await;
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, device = %device.id, "could not record a device status"),
    }
}

/// `…/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMessage {
    #[serde(default)]
    pub ts: Option<chrono::DateTime<Utc>>,
    pub kind: DoorEventKind,
    /// Defaults to the access point the device serves.
    #[serde(default)]
    pub access_point_id: Option<AccessPointId>,
}

/// Logs a device's event in the access log (durable before the message is acknowledged).
async fn take_event(state: &Ingest, message: &Incoming) {
    let Some(device) = device_of(state, &message.topic).await else {
        rejected("events", "unknown_device");
        return;
    };
    let event: EventMessage = match serde_json::from_slice(&message.payload) {
        Ok(event) => event,
        Err(err) => {
            rejected("events", "malformed");
            tracing::debug!(device = %device.id, error = %err, "refused a malformed event");
            return;
        }
    };
    let point = match (event.access_point_id, device.access_point_id) {
        (Some(named), Some(served)) if named != served => {
            rejected("events", "foreign_access_point");
            return;
        }
        (Some(_), None) => {
            rejected("events", "foreign_access_point");
            return;
        }
        (_, served) => served,
    };
    let now = now_micros();
    let reported_at = event.ts.unwrap_or(now);
    match (event.kind, point) {
        (DoorEventKind::DoorOpened, Some(point)) => state.devices.watch.door_opened(point, &device, reported_at),
        (DoorEventKind::DoorClosed, Some(point)) => state.devices.watch.door_closed(point),
        _ => {}
    }
    let mut entry = log_entry(device.tenant_id, now, EntryKind::DoorEvent);
    entry.access_point_id = point;
    entry.reason = Some(event.kind.as_str().to_owned());
    entry.detail = Some(
        serde_json::json!({"event": event.kind, "reported_at": reported_at, "by": actor_json(&device_actor(&device))})
            .to_string(),
    );
    metrics::counter!("gatehouse_door_events_total", "kind" => event.kind.as_str()).increment(1);
    if let Err(err) = state.access.log.append(entry, None).await {
        tracing::warn!(error = %err, device = %device.id, "could not log a device event");
    }
}

async fn take_telemetry(state: &Ingest, message: Incoming) {
    let Some(device) = device_of(state, &message.topic).await else {
        rejected("telemetry", "unknown_device");
        message.ack(&state.devices.bus).await;
        return;
    };
    let now = Utc::now();
    let oldest = now - chrono::Duration::days(super::TELEMETRY_RAW_RETENTION_DAYS);
    match read_samples(&message.payload, device.tenant_id, device.id, now, oldest) {
        Ok(samples) => state.devices.telemetry.push(samples, message).await,
        Err(reason) => {
            rejected("telemetry", "malformed");
            tracing::debug!(device = %device.id, %reason, "refused a telemetry message");
            message.ack(&state.devices.bus).await;
        }
    }
}

async fn take_ack(state: &Ingest, message: &Incoming) {
    let ack: CommandAck = match serde_json::from_slice(&message.payload) {
        Ok(ack) => ack,
        Err(err) => {
            rejected("cmd/ack", "malformed");
            tracing::debug!(topic = %message.topic, error = %err, "ignored a malformed command acknowledgement");
            return;
        }
    };
    let Some(device) = device_of(state, &message.topic).await else {
        rejected("cmd/ack", "unknown_device");
        return;
    };
    state.devices.commands.acknowledged(device.tenant_id, device.id, ack);
}

async fn answer_access_request(state: &Ingest, message: &Incoming) {
    // A device this deployment does not know is not ours to answer (an external
    // broker may carry several deployments' devices).
    let Some(device) = device_of(state, &message.topic).await else {
        rejected("access/req", "unknown_device");
        return;
    };
    let response = match serde_json::from_slice::<AccessRequestMessage>(&message.payload) {
        Ok(request) => decide_for_device(state, &device, request).await,
        Err(err) => {
            rejected("access/req", "malformed");
            let request_id = serde_json::from_slice::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|value| value.get("request_id").and_then(|id| id.as_str()).map(str::to_owned));
            AccessResponseMessage { request_id, error: Some(format!("the request is not valid: {err}")), ..Default::default() }
        }
    };
    let topic = DeviceTopic::new(message.topic.tenant, message.topic.device, Channel::AccessResp);
    match serde_json::to_vec(&response) {
        Ok(body) => {
            if let Err(err) = state.devices.bus.publish(topic, body, QoS::AtLeastOnce).await {
                tracing::warn!(error = %err, "could not answer an access request");
            }
        }
        Err(err) => tracing::error!(error = %err, "could not encode an access response"),
    }
}

async fn decide_for_device(state: &Ingest, device: &Device, request: AccessRequestMessage) -> AccessResponseMessage {
    let request_id = Some(request.request_id.clone());
    let refuse = |error: String, field: Option<&str>| AccessResponseMessage {
        request_id: request_id.clone(),
        error: Some(error),
        field: field.map(str::to_owned),
        ..Default::default()
    };
    let point = match (request.access_point_id, device.access_point_id) {
        (None, Some(served)) => served,
        (Some(named), Some(served)) if named == served => served,
        (Some(_), Some(_)) => return refuse("the device does not serve that access point".into(), Some("access_point_id")),
        (_, None) => return refuse("the device serves no access point".into(), Some("access_point_id")),
    };
    let by = device_actor(device);
    let asked = Asked {
        point,
        credential: &request.credential,
        pin: request.pin.as_deref(),
        direction: request.direction,
        at: now_micros(),
    };
    match decide_and_log(&state.access, device.tenant_id, &by, asked).await {
        Ok(decision) => AccessResponseMessage {
            request_id,
            granted: decision.granted,
            reason: Some(decision.reason.as_str().to_owned()),
            decision_id: decision.decision_id.map(|id| id.to_string()),
            door_action: Some(decision.door_action.as_str().to_owned()),
            ..Default::default()
        },
        Err(err) => refuse_with(&refuse, &err),
    }
}

fn refuse_with(refuse: &impl Fn(String, Option<&str>) -> AccessResponseMessage, err: &ServiceError) -> AccessResponseMessage {
    if err.is_internal() {
        tracing::error!(error = %err, "could not decide a device's access request");
    }
    refuse(err.detail(), err.field())
}
