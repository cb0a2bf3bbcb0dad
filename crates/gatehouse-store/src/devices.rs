//! The store's side of devices: the registry and the digests of their MQTT secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_access::chain::LogRecord;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::devices::{Command, CommandKind, CommandStatus, Device, DeviceKind, DevicePatch, DeviceStatus, NewDevice};
use gatehouse_domain::*;

use crate::{Page, PageRequest, StoreResult};

#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub kind: Option<DeviceKind>,
    pub status: Option<DeviceStatus>,
    pub access_point_id: Option<AccessPointId>,
    pub zone_id: Option<ZoneId>,
    pub name_contains: Option<String>,
}

/// What the broker needs to admit a device, found by its id alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSecret {
    pub device: DeviceId,
    pub tenant: TenantId,
    pub secret_sha256: [u8; 32],
    pub revoked: bool,
}

/// A device that is online, with what it takes to tell when it falls silent.
#[derive(Debug, Clone)]
pub struct DeviceLiveness {
    pub device: DeviceId,
    pub last_seen: Option<DateTime<Utc>>,
    pub heartbeat_seconds: u32,
}

/// One measurement from a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub tenant: TenantId,
    pub device: DeviceId,
    pub metric: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// Which table a series is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Minute,
    Hour,
}

/// One point of a series: a raw sample (min = max = sum, count 1) or a rollup bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub at: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

/// Rows older than these go at a purge.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryCutoffs {
    pub raw_before: DateTime<Utc>,
    pub minute_before: DateTime<Utc>,
    pub hour_before: DateTime<Utc>,
}

/// A command as the API accepted it, ready to queue.
#[derive(Debug, Clone)]
pub struct QueuedCommand {
    pub kind: CommandKind,
    pub params: serde_json::Value,
    pub priority: u8,
    pub timeout_s: u32,
    pub expires_at: DateTime<Utc>,
}

/// A command to queue together with the access-log entry that records it; the caller makes its id.
#[derive(Debug, Clone)]
pub struct CommandToQueue {
    pub id: CommandId,
    pub device: DeviceId,
    pub command: QueuedCommand,
}

/// How a command ended, as the dispatcher records it.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub status: CommandStatus,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The device registry: devices, their secrets, and what the edge reports about them.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device with the digest of the secret just issued to it.
    async fn device_create(
        &self,
        tenant: TenantId,
        new: &NewDevice,
        secret_sha256: [u8; 32],
        change: &ChangeContext,
    ) -> StoreResult<Device>;
    async fn device_get(&self, tenant: TenantId, id: DeviceId) -> StoreResult<Device>;
    async fn device_list(&self, tenant: TenantId, filter: &DeviceFilter, page: PageRequest) -> StoreResult<Page<Device>>;
    async fn device_update(
        &self,
        tenant: TenantId,
        id: DeviceId,
        patch: &DevicePatch,
        change: &ChangeContext,
    ) -> StoreResult<Device>;
    async fn device_delete(&self, tenant: TenantId, id: DeviceId, change: &ChangeContext) -> StoreResult<()>;
    /// Replaces the device's secret (`Some`, a rotation) or revokes it (`None`).
    async fn device_set_secret(
        &self,
        tenant: TenantId,
        id: DeviceId,
        secret_sha256: Option<[u8; 32]>,
        change: &ChangeContext,
    ) -> StoreResult<Device>;
    /// The broker's look-up, across tenants. `None` for an unknown device.
    async fn device_secret(&self, id: DeviceId) -> StoreResult<Option<DeviceSecret>>;
    /// Records that the device spoke at `at` in `status` (and its firmware, when it
    /// said); returns the status it had before.
    async fn device_seen(
        &self,
        tenant: TenantId,
        id: DeviceId,
        status: DeviceStatus,
        firmware: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<DeviceStatus>;
    /// The tenant's devices that are not offline.
    async fn device_liveness(&self, tenant: TenantId) -> StoreResult<Vec<DeviceLiveness>>;
    /// Every tenant that has devices (a platform read).
    async fn device_tenants(&self) -> StoreResult<Vec<TenantId>>;
    /// Moves the devices' `last_seen` forward to the instants given (never back).
    async fn device_touch(&self, tenant: TenantId, heard: &[(DeviceId, DateTime<Utc>)]) -> StoreResult<()>;
    /// Marks the device offline if it is not, and has not been seen since `silent_since`; true if it was marked.
    async fn device_mark_offline(&self, tenant: TenantId, id: DeviceId, silent_since: DateTime<Utc>) -> StoreResult<bool>;
}

/// Each device's command queue.
#[async_trait]
pub trait CommandStore: Send + Sync {
    /// Queues a command for the device (audited).
    async fn command_create(
        &self,
        tenant: TenantId,
        device: DeviceId,
        command: &QueuedCommand,
        change: &ChangeContext,
    ) -> StoreResult<Command>;
    async fn command_get(&self, tenant: TenantId, device: DeviceId, id: CommandId) -> StoreResult<Command>;
    /// The device's commands, newest first.
    async fn command_list(&self, tenant: TenantId, device: DeviceId, page: PageRequest) -> StoreResult<Page<Command>>;
    /// Marks the device's queued commands past their expiry `expired`, then returns
    /// the next one to send: highest priority, oldest first.
    async fn command_next(&self, tenant: TenantId, device: DeviceId, now: DateTime<Utc>) -> StoreResult<Option<Command>>;
    /// Records one more send of the command.
    async fn command_sent(&self, tenant: TenantId, id: CommandId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Ends a command that is still queued or sent; `None` when it had ended already (or does not exist).
    async fn command_finish(&self, tenant: TenantId, id: CommandId, outcome: &CommandOutcome) -> StoreResult<Option<Command>>;
    /// The tenant's commands still queued or sent, oldest first.
    async fn commands_open(&self, tenant: TenantId) -> StoreResult<Vec<Command>>;
    /// When the device's first queued command expires.
    async fn command_queue_expiry(&self, tenant: TenantId, device: DeviceId) -> StoreResult<Option<DateTime<Utc>>>;
    /// Queues the commands (each audited, as [`CommandStore::command_create`] does) and appends
    /// `entry` to the tenant's access log, all in one transaction: an operator's unlock is
    /// queued and logged, or nothing is. `entry` comes sealed onto the tenant's chain and must
    /// continue its head, which moves to it (else `Conflict { field: "seq" }`, and nothing is written).
    async fn commands_create_logged(
        &self,
        tenant: TenantId,
        commands: &[CommandToQueue],
        entry: &LogRecord,
        change: &ChangeContext,
    ) -> StoreResult<Vec<Command>>;
}

/// A device's own id for one of its messages (`message_id`), as recorded with what the
/// message carried: how a message delivered twice is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMessageKey {
    pub tenant: TenantId,
    pub device: DeviceId,
    pub message_id: String,
    /// When it was recorded; keys are kept for the dedup window from then.
    pub at: DateTime<Utc>,
}

/// The device message ids already recorded, for collapsing duplicates.
#[async_trait]
pub trait DeviceMessageStore: Send + Sync {
    /// For each key, whether a message with that id from that device is recorded (of any tenants).
    async fn device_messages_seen(&self, keys: &[DeviceMessageKey]) -> StoreResult<Vec<bool>>;
    /// Forgets the tenant's message ids recorded before `before`; returns how many.
    async fn device_messages_purge(&self, tenant: TenantId, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Device telemetry: raw samples and their rollups.
#[async_trait]
pub trait TelemetryStore: Send + Sync {
    /// Appends samples (of any tenants) and merges them into the minute and hour rollups, all in
    /// one transaction: a batch that fails leaves nothing of any tenant's part, so retrying it
    /// whole counts every sample once.
    async fn telemetry_append(&self, samples: &[Sample]) -> StoreResult<()> {
        self.telemetry_append_recorded(samples, &[]).await
    }
    /// [`TelemetryStore::telemetry_append`], recording the messages' ids in the same transaction
    /// (an id already recorded for its device fails the batch with `Conflict { field: "message_id" }`).
    async fn telemetry_append_recorded(&self, samples: &[Sample], messages: &[DeviceMessageKey]) -> StoreResult<()>;
    /// A device's series for `metric` in `[from, to)`, oldest first, at most `limit` points.
    #[allow(clippy::too_many_arguments)]
    async fn telemetry_series(
        &self,
        tenant: TenantId,
        device: DeviceId,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        resolution: Resolution,
        limit: u32,
    ) -> StoreResult<Vec<SeriesPoint>>;
    /// Deletes the tenant's telemetry older than the cutoffs; returns the rows deleted.
    async fn telemetry_purge(&self, tenant: TenantId, cutoffs: TelemetryCutoffs) -> StoreResult<u64>;
}
