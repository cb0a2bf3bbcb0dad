//! What Gatehouse notices on its own: a device that falls silent, one that
//! speaks again, and a door left open past its threshold.
//!
//! Every message from a device is "heard" here in memory; the watch writes
//! `last_seen` in batches and marks offline the devices silent for
//! [`MISSED_HEARTBEATS`] heartbeat intervals. A device that speaks while
//! marked offline is marked online at once. Both changes are audited events.
//! A door reported open is watched until it is reported closed; past the
//! held-open threshold of the device that reported it, a `door_held_open`
//! entry goes into the access log (once per opening).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_access::chain::EntryKind;
use gatehouse_domain::audit::{Actor, ChangeContext};
use gatehouse_domain::devices::{DeviceStatus, MISSED_HEARTBEATS};
use gatehouse_domain::{AccessPointId, DeviceId, TenantId};

use gatehouse_store::Store;

use super::DeviceService;
use crate::access::decision::{actor_json, log_entry};
use crate::access::{now_micros, AccessLogWriter};

/// How often the watch looks.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// What the watch acts on. Not the API's state, which holds the device service itself.
#[derive(Clone)]
pub struct Watcher {
    pub store: Arc<dyn Store>,
    pub devices: Arc<DeviceService>,
    /// Where doors held open are logged.
    pub log: AccessLogWriter,
}

/// Runs the watch until the server stops.
pub async fn run(state: Watcher) {
    let mut every = tokio::time::interval(SWEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        write_heard(&state).await;
        mark_silent(&state).await;
        raise_held_open(&state).await;
    }
}

async fn write_heard(state: &Watcher) {
    // A poisoned lock still holds what was heard: take it rather than drop it.
    let heard = std::mem::take(&mut *state.devices.watch.heard.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut by_tenant: HashMap<TenantId, Vec<(DeviceId, DateTime<Utc>)>> = HashMap::new();
    for (device, (tenant, at)) in heard {
        by_tenant.entry(tenant).or_default().push((device, at));
    }
    for (tenant, heard) in by_tenant {
        if let Err(err) = state.store.device_touch(tenant, &heard).await {
            tracing::warn!(error = %err, %tenant, "could not record when devices were last heard");
        }
    }
}

async fn mark_silent(state: &Watcher) {
    let tenants = match state.store.device_tenants().await {
        Ok(tenants) => tenants,
        Err(err) => return tracing::warn!(error = %err, "could not list the tenants with devices"),
    };
    let now = Utc::now();
    for tenant in tenants {
        let live = match state.store.device_liveness(tenant).await {
            Ok(live) => live,
            Err(err) => {
                tracing::warn!(error = %err, %tenant, "could not read device liveness");
                continue;
            }
        };
        for device in live {
            let allowed = chrono::Duration::seconds(i64::from(device.heartbeat_seconds) * i64::from(MISSED_HEARTBEATS));
            let silent_since = now - allowed;
            if device.last_seen.is_some_and(|seen| seen >= silent_since) {
                continue;
            }
            match state.store.device_mark_offline(tenant, device.device, silent_since).await {
                Ok(true) => {
                    state.devices.commands.offline(device.device);
                    state.devices.directory.forget(device.device);
                    let details = serde_json::json!({"from": "online", "to": DeviceStatus::Offline, "reason": format!("silent for {MISSED_HEARTBEATS} heartbeats ({}s)", allowed.num_seconds())});
                    audit_status(state.store.as_ref(), tenant, device.device, DeviceStatus::Offline, details).await;
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, device = %device.device, "could not mark a silent device offline"),
            }
        }
    }
}

/// Audits a device's change of status (an event operators and rules see).
pub(crate) async fn audit_status(
    store: &dyn Store,
    tenant: TenantId,
    device: DeviceId,
    to: DeviceStatus,
    details: serde_json::Value,
) {
    let change = ChangeContext::system("device status", Utc::now());
    let action = format!("devices.device.{to}");
    metrics::counter!("gatehouse_device_status_changes_total", "to" => to.as_str()).increment(1);
    if let Err(err) = store.audit_record(Some(tenant), &change, &action, "device", Some(device.to_string()), Some(details)).await
    {
        tracing::warn!(error = %err, "could not audit a device status change");
    }
}

async fn raise_held_open(state: &Watcher) {
    let now = Utc::now();
    let due: Vec<(AccessPointId, TenantId, DateTime<Utc>, Actor)> = state
        .devices
        .watch
        .open_doors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter_mut()
        .filter(|(_, door)| !door.raised && now - door.opened_at > chrono::Duration::seconds(i64::from(door.threshold_s)))
        .map(|(point, door)| {
            door.raised = true;
            (*point, door.tenant, door.opened_at, door.reported_by.clone())
        })
        .collect();
    for (point, tenant, opened_at, reported_by) in due {
        let mut entry = log_entry(tenant, now_micros(), EntryKind::DoorEvent);
        entry.access_point_id = Some(point);
        entry.reason = Some("door_held_open".into());
        entry.detail = Some(
            serde_json::json!({
                "event": "door_held_open",
                "source": "gatehouse",
                "opened_at": opened_at,
                "open_for_s": (now - opened_at).num_seconds(),
                "reported_by": actor_json(&reported_by),
            })
            .to_string(),
        );
        metrics::counter!("gatehouse_door_events_total", "kind" => "door_held_open").increment(1);
        if let Err(err) = state.log.append(entry, None).await {
            tracing::warn!(error = %err, %point, "could not log a door held open");
        }
    }
}
