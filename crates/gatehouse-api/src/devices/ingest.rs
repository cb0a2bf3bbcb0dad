//! What devices publish, taken in. Each message is acknowledged to the broker
//! only once it is kept, so a QoS 1 message Gatehouse has not handled comes
//! again after a reconnect.
//!
//! - `status`: the device's state (and firmware); a change of state is audited.
//! - `cmd/ack`: a command's result, handed to the dispatcher.
//! - `access/req`: decided like `POST /api/v1/access/decide` (logged, durable
//!   before the answer), answered on `access/resp`.
//!
//! A message that cannot be read is refused with a reason on the device's
//! reply channel where it has one, and counted; it never stops the others.

use std::sync::Arc;

use chrono::Utc;
use gatehouse_access::Direction;
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::devices::{Device, DeviceStatus};
use gatehouse_domain::{AccessPointId, DeviceId, TenantId};
use gatehouse_mqtt::bus::QoS;
use gatehouse_mqtt::bus::{Incoming, Stray};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};

use super::commands::CommandAck;
use crate::access::now_micros;
use crate::access::presented::PresentedCredential;
use crate::error::ApiError;
use crate::routes::decisions::{decide_and_log, Asked};
use crate::state::AppState;

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

/// Takes device messages until the bus closes.
pub async fn run(state: AppState, mut incoming: mpsc::Receiver<Result<Incoming, Stray>>) {
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
            // Telemetry and events are not taken in yet: they are acknowledged so
            // the broker does not hold them, and counted.
            _ => {
                rejected(message.topic.channel.suffix(), "not_handled");
                message.ack(&state.devices.bus).await;
            }
        }
    }
}

fn rejected(channel: &'static str, why: &'static str) {
    metrics::counter!("gatehouse_mqtt_rejected_messages_total", "channel" => channel, "why" => why).increment(1);
}

/// The device the topic names, if it is registered in the topic's tenant.
async fn device_of(state: &AppState, topic: &DeviceTopic) -> Option<Device> {
    let tenant = TenantId::from_uuid(topic.tenant);
    match state.devices.directory.get(state.store.as_ref(), tenant, DeviceId::from_uuid(topic.device)).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the device registry");
            None
        }
    }
}

async fn take_status(state: &AppState, message: &Incoming) {
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
    match state.store.device_seen(device.tenant_id, device.id, status.state, firmware, now).await {
        Ok(before) if before != status.state => {
            let change = ChangeContext::system("device status", now);
            let details = serde_json::json!({"from": before, "to": status.state, "firmware": firmware});
            let action = format!("devices.device.{}", status.state);
            if let Err(err) = state
                .store
                .audit_record(Some(device.tenant_id), &change, &action, "device", Some(device.id.to_string()), Some(details))
                .await
            {
                tracing::warn!(error = %err, "could not audit a device status change");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, device = %device.id, "could not record a device status"),
    }
}

async fn take_ack(state: &AppState, message: &Incoming) {
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

async fn answer_access_request(state: &AppState, message: &Incoming) {
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

async fn decide_for_device(state: &AppState, device: &Device, request: AccessRequestMessage) -> AccessResponseMessage {
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
    let by = Actor { kind: "device".into(), id: Some(device.id.as_uuid()), label: device.name.as_str().to_owned() };
    let asked = Asked {
        point,
        credential: &request.credential,
        pin: request.pin.as_deref(),
        direction: request.direction,
        at: now_micros(),
    };
    match decide_and_log(state, device.tenant_id, &by, asked).await {
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

fn refuse_with(refuse: &impl Fn(String, Option<&str>) -> AccessResponseMessage, err: &ApiError) -> AccessResponseMessage {
    refuse(err.detail().to_owned(), err.field())
}
