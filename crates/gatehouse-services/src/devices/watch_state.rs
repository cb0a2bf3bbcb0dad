//! What the watch remembers between its sweeps: when each device was last
//! heard, and which doors are open. Kept apart from [`super::watch`], which
//! acts on it, so the device service can own it without depending on what the watch acts through.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use gatehouse_domain::audit::Actor;
use gatehouse_domain::devices::Device;
use gatehouse_domain::{AccessPointId, DeviceId, TenantId};

/// A door reported open and not yet closed.
pub(crate) struct OpenDoor {
    pub(crate) tenant: TenantId,
    pub(crate) opened_at: DateTime<Utc>,
    pub(crate) threshold_s: u32,
    pub(crate) reported_by: Actor,
    pub(crate) raised: bool,
}

#[derive(Default)]
pub struct Watch {
    pub(crate) heard: Mutex<HashMap<DeviceId, (TenantId, DateTime<Utc>)>>,
    pub(crate) open_doors: Mutex<HashMap<AccessPointId, OpenDoor>>,
}

impl Watch {
    /// Notes that the device spoke now.
    pub fn heard(&self, device: &Device, at: DateTime<Utc>) {
        if let Ok(mut heard) = self.heard.lock() {
            heard.insert(device.id, (device.tenant_id, at));
        }
    }

    /// A door was reported open: watched until closed.
    pub fn door_opened(&self, point: AccessPointId, device: &Device, at: DateTime<Utc>) {
        let threshold_s = device.held_open_seconds();
        if let Ok(mut doors) = self.open_doors.lock() {
            doors.entry(point).or_insert(OpenDoor {
                tenant: device.tenant_id,
                opened_at: at,
                threshold_s,
                reported_by: device_actor(device),
                raised: false,
            });
        }
    }

    pub fn door_closed(&self, point: AccessPointId) {
        if let Ok(mut doors) = self.open_doors.lock() {
            doors.remove(&point);
        }
    }
}

pub(crate) fn device_actor(device: &Device) -> Actor {
    Actor { kind: "device".into(), id: Some(device.id.as_uuid()), label: device.name.as_str().to_owned() }
}
