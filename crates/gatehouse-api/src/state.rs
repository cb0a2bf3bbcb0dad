use std::sync::Arc;

use gatehouse_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use gatehouse_services::access::policy_writes::PolicyWrites;
use gatehouse_services::access::AccessService;
use gatehouse_services::devices::operations::{DeviceOperations, TelemetryLimits};
use gatehouse_services::devices::DeviceService;
use gatehouse_services::identity::Identity;
use gatehouse_services::tenant_cache::TenantCache;

use crate::bootstrap::BootstrapAuth;

/// What every handler can reach: one shared pointer, since axum clones the
/// state for every layer and extractor of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub bootstrap: Arc<BootstrapAuth>,
    pub tenants: Arc<TenantCache>,
    pub identity: Arc<Identity>,
    /// Each tenant's decision engine and the access-log writer.
    pub access: Arc<AccessService>,
    /// The store writes that can change a decision, each followed by the snapshot's reload.
    pub policy: PolicyWrites,
    /// The MQTT link to devices.
    pub devices: Arc<DeviceService>,
    /// What operators ask of devices beyond one store call (unlocks, telemetry series).
    pub device_operations: DeviceOperations,
    pub limits: Limits,
    /// Whether access-log entries are turned into events (`event_log` in the configuration).
    pub event_log: bool,
    pub metrics: PrometheusHandle,
    /// The product version, reported by `/healthz` and the build-info metric.
    pub version: &'static str,
}

/// Bounds on what one request may carry.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON body accepted, in bytes.
    pub json_body_bytes_max: usize,
    /// Largest CSV import body accepted, in bytes.
    pub import_body_bytes_max: usize,
    /// Bounds on one telemetry read.
    pub telemetry: TelemetryLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self { json_body_bytes_max: 1024 * 1024, import_body_bytes_max: 32 * 1024 * 1024, telemetry: TelemetryLimits::default() }
    }
}
