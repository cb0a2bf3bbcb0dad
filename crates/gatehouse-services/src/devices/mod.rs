//! Devices over MQTT: the registry's credentials, the broker's gatekeeper, the
//! ingest of what devices publish, the command dispatcher, the watch, and the
//! operations an operator asks of devices.
//!
//! Gatehouse reads and writes device topics through one client ([`Bus`]),
//! whether the broker is the embedded one or an operator's. With the embedded
//! broker, its hooks ask [`gatekeeper::RegistryGatekeeper`] who may connect;
//! with an external one, the operator's broker configuration does that.

pub mod commands;
pub mod events;
pub mod gatekeeper;
pub mod ingest;
pub mod operations;
pub mod telemetry;
pub mod watch;
pub mod watch_state;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use commands::Dispatch;
use gatehouse_domain::devices::Device;
use gatehouse_domain::{DeviceId, TenantId};
use gatehouse_mqtt::broker::EmbeddedBroker;
use gatehouse_mqtt::bus::Bus;
use gatehouse_mqtt::topics::topic_prefix;
use gatehouse_store::{Store, StoreError, StoreResult};
use serde::Serialize;
use sha2::{Digest, Sha256};
use telemetry::TelemetryWriter;

/// Prefix of device secrets, so a leaked one is recognisable.
pub const DEVICE_SECRET_PREFIX: &str = "ghd_";

/// The MQTT side of the running server.
pub struct DeviceService {
    pub bus: Bus,
    /// Set when Gatehouse runs the broker itself.
    pub broker: Option<Arc<EmbeddedBroker>>,
    pub directory: DeviceDirectory,
    pub commands: Dispatch,
    pub telemetry: TelemetryWriter,
    pub watch: watch_state::Watch,
}

/// How long telemetry is kept: raw samples, one-minute and one-hour rollups.
pub const TELEMETRY_RAW_RETENTION_DAYS: i64 = 7;
pub const TELEMETRY_MINUTE_RETENTION_DAYS: i64 = 90;
pub const TELEMETRY_HOUR_RETENTION_DAYS: i64 = 730;

/// How long a device message id is remembered: a message delivered again within this
/// window of the first delivery is recognised and kept once.
pub const DEVICE_MESSAGE_DEDUP_DAYS: i64 = 7;

/// The cutoffs of a telemetry purge at `now`.
pub fn telemetry_cutoffs(now: chrono::DateTime<chrono::Utc>) -> gatehouse_store::TelemetryCutoffs {
    gatehouse_store::TelemetryCutoffs {
        raw_before: now - chrono::Duration::days(TELEMETRY_RAW_RETENTION_DAYS),
        minute_before: now - chrono::Duration::days(TELEMETRY_MINUTE_RETENTION_DAYS),
        hour_before: now - chrono::Duration::days(TELEMETRY_HOUR_RETENTION_DAYS),
    }
}

impl DeviceService {
    /// Starts the command dispatcher too.
    pub fn new(store: Arc<dyn Store>, bus: Bus, broker: Option<Arc<EmbeddedBroker>>) -> DeviceService {
        let commands = Dispatch::spawn(store.clone(), bus.clone());
        let telemetry = TelemetryWriter::spawn(store);
        DeviceService {
            bus,
            broker,
            directory: DeviceDirectory::default(),
            commands,
            telemetry,
            watch: watch_state::Watch::default(),
        }
    }

    /// Closes the device's way in at once: its connection is refused on its next packet.
    pub fn shut_out(&self, device: DeviceId) {
        if let Some(broker) = &self.broker {
            broker.revoke(device.as_uuid());
        }
        self.directory.forget(device);
    }
}

/// How long a device's registry entry is trusted before it is read again
/// (changes made through this node are seen at once).
const DIRECTORY_TTL: Duration = Duration::from_secs(30);
const DIRECTORY_ENTRIES_MAX: usize = 200_000;

/// Devices as the ingest path needs them, kept in memory so that an access
/// request from a reader does not wait on a registry read.
/// A device as last read (`None`: not registered), and when it was read.
type DirectoryEntry = (Option<Arc<Device>>, Instant);

#[derive(Default)]
pub struct DeviceDirectory {
    entries: RwLock<HashMap<DeviceId, DirectoryEntry>>,
}

impl DeviceDirectory {
    /// The device, if it is registered in `tenant`.
    pub async fn get(&self, store: &dyn Store, tenant: TenantId, id: DeviceId) -> StoreResult<Option<Arc<Device>>> {
        if let Ok(entries) = self.entries.read() {
            if let Some((device, fetched_at)) = entries.get(&id) {
                if fetched_at.elapsed() < DIRECTORY_TTL {
                    return Ok(device.clone().filter(|device| device.tenant_id == tenant));
                }
            }
        }
        let device = match store.device_get(tenant, id).await {
            Ok(device) => Some(Arc::new(device)),
            Err(StoreError::NotFound) => None,
            Err(err) => return Err(err),
        };
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= DIRECTORY_ENTRIES_MAX {
                entries.clear();
            }
            entries.insert(id, (device.clone(), Instant::now()));
        }
        Ok(device)
    }

    pub fn forget(&self, id: DeviceId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&id);
        }
    }
}

/// What a device needs to connect, shown once when issued.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MqttCredentials {
    /// The device id; also the MQTT client id the device must use.
    pub username: String,
    pub client_id: String,
    /// Shown only in this answer; Gatehouse keeps its SHA-256 digest.
    pub password: String,
    /// `gh/{tenant}/{device}`: the device publishes and subscribes only under it.
    pub topic_prefix: String,
}

/// A new device secret and the digest it is stored as.
pub fn new_secret() -> (String, [u8; 32]) {
    let (secret, _) = crate::secret_token::generate(DEVICE_SECRET_PREFIX);
    let digest = secret_digest(secret.as_bytes());
    (secret, digest)
}

impl MqttCredentials {
    pub fn new(tenant: TenantId, device: DeviceId, secret: String) -> MqttCredentials {
        let id = device.to_string();
        MqttCredentials {
            username: id.clone(),
            client_id: id,
            password: secret,
            topic_prefix: topic_prefix(tenant.as_uuid(), device.as_uuid()),
        }
    }
}

pub(crate) fn secret_digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}
