//! What devices publish, taken in: the [`Upstream`] both brokers hand device
//! messages to. Each message settles as kept (durable), refused (unreadable or
//! not the device's to send; counted, and acknowledged since sending it again
//! cannot help), or unkept (a storage failure: not acknowledged, so the device
//! sends it again).
//!
//! - `status`: the device's state (and firmware); a change of state is audited.
//! - `telemetry`: samples, written in batches by [`super::telemetry`].
//! - `events`: door and input events and offline decisions, into the access log
//!   in the device's order ([`super::events`]).
//! - `cmd/ack`: a command's result, recorded by the dispatcher.
//! - `access/req`: decided like `POST /api/v1/access/decide` (logged, durable
//!   before the answer), answered on `access/resp`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use gatehouse_access::Direction;
use gatehouse_domain::devices::{Device, DeviceStatus};
use gatehouse_domain::{AccessPointId, DeviceId, TenantId};
use gatehouse_mqtt::bus::QoS;
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use gatehouse_mqtt::upstream::{settled, Incoming, Outcome, Settling, Upstream};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use gatehouse_store::{DeviceMessageKey, Store};

use super::commands::CommandAck;
use super::telemetry::read_samples;
use super::watch::audit_status;
use super::watch_state::device_actor;
use super::DeviceService;
use crate::access::decision::{decide_and_log, Asked};
use crate::access::presented::PresentedCredential;
use crate::access::{now_micros, AccessService};
use crate::error::ServiceError;

/// Longest device message id (`message_id` in events and telemetry).
pub const MESSAGE_ID_MAX: usize = 64;
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
    store: Arc<dyn Store>,
    pub(super) devices: Arc<DeviceService>,
    /// Decides access requests and keeps device events in the access log.
    pub(super) access: Arc<AccessService>,
    decisions: Arc<Semaphore>,
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>, devices: Arc<DeviceService>, access: Arc<AccessService>) -> Ingest {
        Ingest { store, devices, access, decisions: Arc::new(Semaphore::new(DECISIONS_IN_FLIGHT_MAX)) }
    }
}

#[async_trait]
impl Upstream for Ingest {
    async fn admit(&self, message: Incoming) -> Settling {
        match message.topic.channel {
            Channel::AccessReq => {
                // Decided side by side (a reader waits for each answer); at most so many at once.
                let Ok(permit) = self.decisions.clone().acquire_owned().await else {
                    return settled(Outcome::unkept("Gatehouse is stopping"));
                };
                let state = self.clone();
                Box::pin(async move {
                    let outcome = answer_access_request(&state, &message).await;
                    drop(permit);
                    outcome
                })
            }
            Channel::Status => settled(take_status(self, &message).await),
            Channel::CmdAck => take_ack(self, &message).await,
            Channel::Telemetry => take_telemetry(self, &message).await,
            Channel::Events => super::events::take(self, &message).await,
            // Gatehouse's own channels: a device may not publish there (the embedded
            // broker refuses it; an external one may not).
            Channel::Cmd | Channel::AccessResp => {
                settled(Outcome::refused("wrong_direction", "devices do not publish on this channel"))
            }
        }
    }
}

/// What is wrong with a device's message id, if anything.
pub fn message_id_problem(id: &str) -> Option<String> {
    let fits = (1..=MESSAGE_ID_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    (!fits).then(|| format!("message_id: 1 to {MESSAGE_ID_MAX} printable ASCII characters"))
}

pub(super) fn malformed(detail: impl std::fmt::Display) -> Outcome {
    Outcome::refused("malformed", detail.to_string())
}

fn unknown_device() -> Outcome {
    Outcome::refused("unknown_device", "no such device in this tenant")
}

/// The device the topic names, if it is registered in the topic's tenant.
/// Hearing from it is noted, and a device marked offline is marked online again.
/// A registry that cannot be read leaves the message unkept, never "unknown".
pub(super) async fn device_of(state: &Ingest, topic: &DeviceTopic) -> Result<Arc<Device>, Outcome> {
    let tenant = TenantId::from_uuid(topic.tenant);
    let device = match state.devices.directory.get(state.store.as_ref(), tenant, DeviceId::from_uuid(topic.device)).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(unknown_device()),
        Err(err) => {
            tracing::warn!(error = %err, "could not read the device registry");
            return Err(Outcome::unkept("the device registry could not be read"));
        }
    };
    let now = Utc::now();
    state.devices.watch.heard(&device, now);
    if device.status == DeviceStatus::Offline && topic.channel != Channel::Status {
        revive(state, &device, now).await;
    }
    Ok(device)
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

async fn take_status(state: &Ingest, message: &Incoming) -> Outcome {
    let status: StatusMessage = match serde_json::from_slice(&message.payload) {
        Ok(status) => status,
        Err(err) => return malformed(format!("not a status message: {err}")),
    };
    let device = match device_of(state, &message.topic).await {
        Ok(device) => device,
        Err(outcome) => return outcome,
    };
    match status.state {
        DeviceStatus::Online | DeviceStatus::Degraded => state.devices.commands.online(device.tenant_id, device.id),
        DeviceStatus::Offline => state.devices.commands.offline(device.id),
    }
    let firmware = status.firmware.as_deref().filter(|firmware| !firmware.is_empty() && firmware.len() <= 128);
    let now = Utc::now();
    state.devices.directory.forget(device.id);
    match state.store.device_seen(device.tenant_id, device.id, status.state, firmware, now).await {
        Ok(before) => {
            if before != status.state {
                let details = serde_json::json!({"from": before, "to": status.state, "firmware": firmware});
                audit_status(state.store.as_ref(), device.tenant_id, device.id, status.state, details).await;
            }
            Outcome::Kept
        }
        Err(err) => {
            tracing::warn!(error = %err, device = %device.id, "could not record a device status");
            Outcome::unkept("the status could not be recorded")
        }
    }
}

async fn take_telemetry(state: &Ingest, message: &Incoming) -> Settling {
    let device = match device_of(state, &message.topic).await {
        Ok(device) => device,
        Err(outcome) => return settled(outcome),
    };
    let now = Utc::now();
    let oldest = now - chrono::Duration::days(super::TELEMETRY_RAW_RETENTION_DAYS);
    let (samples, message_id) = match read_samples(&message.payload, device.tenant_id, device.id, now, oldest) {
        Ok(read) => read,
        Err(reason) => return settled(malformed(reason)),
    };
    let key = message_id.map(|message_id| DeviceMessageKey { tenant: device.tenant_id, device: device.id, message_id, at: now });
    let written = state.devices.telemetry.push(samples, key).await;
    Box::pin(async move {
        match written.await {
            true => Outcome::Kept,
            false => Outcome::unkept("the telemetry could not be written"),
        }
    })
}

async fn take_ack(state: &Ingest, message: &Incoming) -> Settling {
    let ack: CommandAck = match serde_json::from_slice(&message.payload) {
        Ok(ack) => ack,
        Err(err) => return settled(malformed(format!("not a command acknowledgement: {err}"))),
    };
    let device = match device_of(state, &message.topic).await {
        Ok(device) => device,
        Err(outcome) => return settled(outcome),
    };
    let recorded = state.devices.commands.acknowledged(device.tenant_id, device.id, ack);
    Box::pin(async move {
        match recorded.await {
            true => Outcome::Kept,
            false => Outcome::unkept("the acknowledgement could not be recorded"),
        }
    })
}

/// Decides, answers on `access/resp`, and settles: kept once the decision is logged and
/// answered, refused when the request could not be read (the answer says why).
async fn answer_access_request(state: &Ingest, message: &Incoming) -> Outcome {
    // A device this deployment does not know is not ours to answer (an external
    // broker may carry several deployments' devices).
    let device = match device_of(state, &message.topic).await {
        Ok(device) => device,
        Err(outcome) => return outcome,
    };
    let mut outcome = Outcome::Kept;
    let response = match serde_json::from_slice::<AccessRequestMessage>(&message.payload) {
        Ok(request) => decide_for_device(state, &device, request).await,
        Err(err) => {
            outcome = malformed(format!("the request is not valid: {err}"));
            let request_id = serde_json::from_slice::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|value| value.get("request_id").and_then(|id| id.as_str()).map(str::to_owned));
            AccessResponseMessage { request_id, error: Some(format!("the request is not valid: {err}")), ..Default::default() }
        }
    };
    if let (Outcome::Kept, Some(error)) = (&outcome, &response.error) {
        outcome = Outcome::refused("undecided", error.clone());
    }
    let topic = DeviceTopic::new(message.topic.tenant, message.topic.device, Channel::AccessResp);
    match serde_json::to_vec(&response) {
        Ok(body) => {
            if let Err(err) = state.devices.bus.publish(topic, body, QoS::AtLeastOnce).await {
                tracing::warn!(error = %err, "could not answer an access request");
            }
        }
        Err(err) => tracing::error!(error = %err, "could not encode an access response"),
    }
    outcome
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
