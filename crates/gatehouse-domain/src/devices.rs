//! Devices: the controllers, readers, locks, sensors, panels, cameras and
//! attendance terminals that talk to Gatehouse over MQTT, and the settings
//! each kind accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::code_enum;
use crate::values::Name;
use crate::{AccessPointId, CommandId, DeviceId, TenantId, ValidationError, ZoneId};

code_enum!(
    /// What a device is; it decides which settings its `config` accepts.
    DeviceKind {
        Controller => "controller",
        Reader => "reader",
        Lock => "lock",
        Sensor => "sensor",
        Panel => "panel",
        Camera => "camera",
        AttendanceTerminal => "attendance_terminal",
    }
);
code_enum!(
    /// `online` while the device speaks within its heartbeat; `offline` once it has been
    /// silent for [`MISSED_HEARTBEATS`] intervals or said so (its last will); `degraded`
    /// when it reports so itself.
    DeviceStatus { Online => "online", Offline => "offline", Degraded => "degraded" }
);

code_enum!(
    /// What a device reports on `…/events`.
    DoorEventKind {
        DoorOpened => "door_opened",
        DoorClosed => "door_closed",
        DoorForced => "door_forced",
        DoorHeldOpen => "door_held_open",
        Tamper => "tamper",
        ExitButton => "exit_button",
        AlarmInput => "alarm_input",
    }
);

/// Heartbeat intervals a device may miss before it is marked offline.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Longest text in a device's descriptive fields (model, serial, firmware, a capability).
const DESCRIPTOR_MAX: usize = 128;
/// Most capabilities a device may declare.
const CAPABILITIES_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub id: DeviceId,
    pub tenant_id: TenantId,
    pub kind: DeviceKind,
    pub name: Name,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// As last reported by the device (or set by an operator until it reports).
    pub firmware: Option<String>,
    pub capabilities: Vec<String>,
    /// The access point it serves (readers, locks, controllers).
    pub access_point_id: Option<AccessPointId>,
    /// The zone it serves (sensors, panels, cameras).
    pub zone_id: Option<ZoneId>,
    /// The kind's settings, with every default filled in.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
    pub status: DeviceStatus,
    pub last_seen: Option<DateTime<Utc>>,
    /// Whether the device holds MQTT credentials that work (false once revoked).
    pub credentials_active: bool,
    pub credentials_issued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Device {
    /// Seconds between the device's reports, from its settings.
    pub fn heartbeat_seconds(&self) -> u32 {
        heartbeat_seconds(&self.config)
    }

    /// Seconds a door this device reports on may stay open, from its settings.
    pub fn held_open_seconds(&self) -> u32 {
        setting_seconds(&self.config, "held_open_s", default_held_open())
    }
}

/// `heartbeat_s` of normalised settings (every kind has it), for readers of the stored JSON.
pub fn heartbeat_seconds(config: &serde_json::Value) -> u32 {
    setting_seconds(config, "heartbeat_s", DEFAULT_HEARTBEAT_S)
}

fn setting_seconds(config: &serde_json::Value, name: &str, default: u32) -> u32 {
    config.get(name).and_then(|value| value.as_u64()).and_then(|s| u32::try_from(s).ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub kind: DeviceKind,
    pub name: Name,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub access_point_id: Option<AccessPointId>,
    pub zone_id: Option<ZoneId>,
    /// Settings for the kind (see `DeviceConfig`); omitted settings take their defaults.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub config: Option<serde_json::Value>,
}

impl NewDevice {
    /// Checks the descriptive fields and returns the kind's settings, defaults filled in.
    pub fn check(&self) -> Result<serde_json::Value, ValidationError> {
        check_descriptors(self.model.as_deref(), self.serial.as_deref(), self.firmware.as_deref(), &self.capabilities)?;
        DeviceConfig::normalize(self.kind, self.config.as_ref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub serial: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub firmware: Option<Option<String>>,
    pub capabilities: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub access_point_id: Option<Option<AccessPointId>>,
    #[serde(default, deserialize_with = "crate::people::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub zone_id: Option<Option<ZoneId>>,
    /// Replaces the settings whole; omitted settings take their defaults.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub config: Option<serde_json::Value>,
}

impl Device {
    /// The device with `patch` applied, checked as a new one would be.
    pub fn patched(mut self, patch: &DevicePatch) -> Result<Device, ValidationError> {
        if let Some(name) = &patch.name {
            self.name = name.clone();
        }
        if let Some(model) = &patch.model {
            self.model = model.clone();
        }
        if let Some(serial) = &patch.serial {
            self.serial = serial.clone();
        }
        if let Some(firmware) = &patch.firmware {
            self.firmware = firmware.clone();
        }
        if let Some(capabilities) = &patch.capabilities {
            self.capabilities = capabilities.clone();
        }
        if let Some(access_point) = patch.access_point_id {
            self.access_point_id = access_point;
        }
        if let Some(zone) = patch.zone_id {
            self.zone_id = zone;
        }
        check_descriptors(self.model.as_deref(), self.serial.as_deref(), self.firmware.as_deref(), &self.capabilities)?;
        if let Some(config) = &patch.config {
            self.config = DeviceConfig::normalize(self.kind, Some(config))?;
        }
        Ok(self)
    }
}

fn check_descriptors(
    model: Option<&str>,
    serial: Option<&str>,
    firmware: Option<&str>,
    capabilities: &[String],
) -> Result<(), ValidationError> {
    for (field, value) in [("model", model), ("serial", serial), ("firmware", firmware)] {
        if let Some(value) = value {
            check_descriptor(value).map_err(|err| err.at(field))?;
        }
    }
    if capabilities.len() > CAPABILITIES_MAX {
        return Err(ValidationError::new("capabilities", format!("at most {CAPABILITIES_MAX} capabilities")));
    }
    for (index, capability) in capabilities.iter().enumerate() {
        check_descriptor(capability).map_err(|err| err.at(format!("capabilities[{index}]")))?;
    }
    Ok(())
}

fn check_descriptor(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::message("must not be blank"));
    }
    if value.chars().count() > DESCRIPTOR_MAX {
        return Err(ValidationError::message(format!("at most {DESCRIPTOR_MAX} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::message("must not contain control characters"));
    }
    Ok(())
}

const DEFAULT_HEARTBEAT_S: u32 = 30;

fn default_heartbeat() -> u32 {
    DEFAULT_HEARTBEAT_S
}
fn default_unlock() -> u32 {
    5
}
fn default_held_open() -> u32 {
    30
}
fn default_report_interval() -> u32 {
    60
}

/// The settings a device kind accepts. Each kind's settings are a closed set:
/// an unknown setting or a value out of range is refused, naming it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum DeviceConfig {
    /// Controllers and locks: they drive a door.
    Door(DoorConfig),
    Reader(ReaderConfig),
    Sensor(SensorConfig),
    /// Panels, cameras and attendance terminals.
    Basic(BasicConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// Seconds between the device's status reports, 5 to 3600 (default 30).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DoorConfig {
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: u32,
    /// Seconds the lock stays released after a grant, 1 to 300 (default 5).
    #[serde(default = "default_unlock")]
    pub unlock_s: u32,
    /// Seconds a door may stay open before it is "held open", 1 to 3600 (default 30).
    #[serde(default = "default_held_open")]
    pub held_open_s: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReaderConfig {
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: u32,
    /// Whether the reader has a keypad (card + PIN doors need one).
    #[serde(default)]
    pub keypad: bool,
    /// Wiegand frame length the reader sends: 26, 34, 35 or 37 (default 26).
    #[serde(default = "default_wiegand_bits")]
    pub wiegand_bits: u32,
}

fn default_wiegand_bits() -> u32 {
    26
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: u32,
    /// Seconds between telemetry reports, 1 to 86400 (default 60).
    #[serde(default = "default_report_interval")]
    pub report_interval_s: u32,
}

impl DeviceConfig {
    /// Parses `config` as `kind`'s settings, checks every range and returns them with
    /// defaults filled in. `None` gives the defaults.
    pub fn normalize(kind: DeviceKind, config: Option<&serde_json::Value>) -> Result<serde_json::Value, ValidationError> {
        let empty = serde_json::Value::Object(Default::default());
        let config = config.unwrap_or(&empty);
        let parsed = match kind {
            DeviceKind::Controller | DeviceKind::Lock => DeviceConfig::Door(parse(config)?),
            DeviceKind::Reader => DeviceConfig::Reader(parse(config)?),
            DeviceKind::Sensor => DeviceConfig::Sensor(parse(config)?),
            DeviceKind::Panel | DeviceKind::Camera | DeviceKind::AttendanceTerminal => DeviceConfig::Basic(parse(config)?),
        };
        parsed.check()?;
        serde_json::to_value(&parsed).map_err(|err| ValidationError::new("config", err.to_string()))
    }

    fn check(&self) -> Result<(), ValidationError> {
        let heartbeat = match self {
            DeviceConfig::Door(config) => {
                in_range("unlock_s", config.unlock_s, 1, 300)?;
                in_range("held_open_s", config.held_open_s, 1, 3600)?;
                config.heartbeat_s
            }
            DeviceConfig::Reader(config) => {
                if ![26, 34, 35, 37].contains(&config.wiegand_bits) {
                    return Err(ValidationError::new("config.wiegand_bits", "must be 26, 34, 35 or 37"));
                }
                config.heartbeat_s
            }
            DeviceConfig::Sensor(config) => {
                in_range("report_interval_s", config.report_interval_s, 1, 86_400)?;
                config.heartbeat_s
            }
            DeviceConfig::Basic(config) => config.heartbeat_s,
        };
        in_range("heartbeat_s", heartbeat, 5, 3600)
    }
}

fn parse<T: serde::de::DeserializeOwned>(config: &serde_json::Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(config).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "config".to_owned() } else { format!("config.{path}") };
        ValidationError::new(field, err.inner().to_string())
    })
}

fn in_range(setting: &str, value: u32, min: u32, max: u32) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new(format!("config.{setting}"), format!("must be from {min} to {max} (got {value})")))
    }
}

code_enum!(
    /// What a command asks of a device.
    CommandKind {
        Unlock => "unlock",
        Lock => "lock",
        Pulse => "pulse",
        Reboot => "reboot",
        SetConfig => "set_config",
        FirmwareUpdate => "firmware_update",
        SyncTime => "sync_time",
        Identify => "identify",
    }
);
code_enum!(
    /// Where a command is: `queued` until sent (kept for an offline device),
    /// `sent` until the device acknowledges, then `acknowledged` (ok) or
    /// `failed` (the device said so); `expired` if its `expires_at` passed before
    /// it was sent (it is never sent then), `timed_out` if no acknowledgement came
    /// within `timeout_s` of the first send.
    CommandStatus {
        Queued => "queued",
        Sent => "sent",
        Acknowledged => "acknowledged",
        Failed => "failed",
        Expired => "expired",
        TimedOut => "timed_out",
    }
);

impl CommandStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, CommandStatus::Queued | CommandStatus::Sent)
    }
}

/// Lowest and highest command priority; higher is sent first.
pub const COMMAND_PRIORITY_RANGE: std::ops::RangeInclusive<u8> = 0..=9;
pub const COMMAND_PRIORITY_DEFAULT: u8 = 5;
pub const COMMAND_TIMEOUT_DEFAULT_S: u32 = 10;
/// How long a command waits for an offline device when it names no `expires_at`.
pub const COMMAND_EXPIRY_DEFAULT_S: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Command {
    pub id: CommandId,
    pub tenant_id: TenantId,
    pub device_id: DeviceId,
    pub kind: CommandKind,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: serde_json::Value,
    pub priority: u8,
    pub timeout_s: u32,
    pub expires_at: DateTime<Utc>,
    pub status: CommandStatus,
    /// Times it was published to the device (retries included).
    pub attempts: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the device answered in its acknowledgement.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/devices/{id}/commands`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCommand {
    pub kind: CommandKind,
    /// The kind's parameters: `unlock` {seconds 1..3600}, `pulse` {ms 1..60000},
    /// `set_config` {config: the device kind's settings}, `firmware_update` {url, version, sha256?}.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub params: Option<serde_json::Value>,
    /// 0 (lowest) to 9 (highest), default 5; higher priorities are sent first, in order within one.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Seconds to wait for the acknowledgement after the first send, 1 to 3600 (default 10).
    #[serde(default)]
    pub timeout_s: Option<u32>,
    /// The command is never sent after this instant (default: a day from now).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewCommand {
    /// Checks the command for a device of `device_kind` and returns its parameters, normalised.
    pub fn check(&self, device_kind: DeviceKind, now: DateTime<Utc>) -> Result<serde_json::Value, ValidationError> {
        if let Some(priority) = self.priority {
            if !COMMAND_PRIORITY_RANGE.contains(&priority) {
                return Err(ValidationError::new("priority", "must be from 0 to 9"));
            }
        }
        if let Some(timeout) = self.timeout_s {
            if !(1..=3600).contains(&timeout) {
                return Err(ValidationError::new("timeout_s", "must be from 1 to 3600 seconds"));
            }
        }
        if let Some(expires_at) = self.expires_at {
            if expires_at <= now {
                return Err(ValidationError::new("expires_at", "must be in the future"));
            }
        }
        let params = self.params.clone().unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let object = params.as_object().ok_or_else(|| ValidationError::new("params", "must be an object"))?;
        let number = |name: &str, min: u64, max: u64, default: Option<u64>| -> Result<Option<u64>, ValidationError> {
            match object.get(name) {
                None => Ok(default),
                Some(value) => match value.as_u64().filter(|n| (min..=max).contains(n)) {
                    Some(n) => Ok(Some(n)),
                    None => {
                        Err(ValidationError::new(format!("params.{name}"), format!("must be a whole number from {min} to {max}")))
                    }
                },
            }
        };
        let only = |allowed: &[&str]| -> Result<(), ValidationError> {
            match object.keys().find(|key| !allowed.contains(&key.as_str())) {
                Some(key) => Err(ValidationError::new(
                    format!("params.{key}"),
                    format!(
                        "is not a parameter of {} (expected: {})",
                        self.kind,
                        if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
                    ),
                )),
                None => Ok(()),
            }
        };
        match self.kind {
            CommandKind::Unlock => {
                only(&["seconds"])?;
                let seconds = number("seconds", 1, 3600, Some(5))?;
                Ok(serde_json::json!({"seconds": seconds}))
            }
            CommandKind::Pulse => {
                only(&["ms"])?;
                let ms = number("ms", 1, 60_000, Some(500))?;
                Ok(serde_json::json!({"ms": ms}))
            }
            CommandKind::SetConfig => {
                only(&["config"])?;
                let config = object.get("config").ok_or_else(|| ValidationError::new("params.config", "is required"))?;
                let config = DeviceConfig::normalize(device_kind, Some(config)).map_err(|err| err.at("params.config"))?;
                Ok(serde_json::json!({"config": config}))
            }
            CommandKind::FirmwareUpdate => {
                only(&["url", "version", "sha256"])?;
                let text = |name: &str| -> Result<Option<String>, ValidationError> {
                    match object.get(name) {
                        None => Ok(None),
                        Some(value) => value
                            .as_str()
                            .filter(|text| !text.is_empty() && text.len() <= 2048)
                            .map(|text| Some(text.to_owned()))
                            .ok_or_else(|| ValidationError::new(format!("params.{name}"), "must be a non-empty string")),
                    }
                };
                let url = text("url")?.ok_or_else(|| ValidationError::new("params.url", "is required"))?;
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ValidationError::new("params.url", "must be an http(s) URL"));
                }
                let version = text("version")?.ok_or_else(|| ValidationError::new("params.version", "is required"))?;
                let sha256 = text("sha256")?;
                if sha256.as_ref().is_some_and(|digest| digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit())) {
                    return Err(ValidationError::new("params.sha256", "must be 64 hexadecimal digits"));
                }
                Ok(serde_json::json!({"url": url, "version": version, "sha256": sha256}))
            }
            CommandKind::Lock | CommandKind::Reboot | CommandKind::SyncTime | CommandKind::Identify => {
                only(&[])?;
                Ok(params)
            }
        }
    }
}

/// The start of the `seconds`-long bucket holding `at`, buckets counted from the
/// Unix epoch. Telemetry rollups are written with it and series re-bucketed with
/// it, so that a stored bucket and a re-bucketed one always line up.
pub fn bucket_start(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    if seconds <= 0 {
        return at;
    }
    let secs = at.timestamp().div_euclid(seconds) * seconds;
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buckets_start_on_multiples_of_their_length_before_and_after_the_epoch() {
        let at = DateTime::from_timestamp(3_725, 500).unwrap();
        assert_eq!(bucket_start(at, 60).timestamp(), 3_720);
        assert_eq!(bucket_start(at, 3_600).timestamp(), 3_600);
        let before = DateTime::from_timestamp(-1, 0).unwrap();
        assert_eq!(bucket_start(before, 60).timestamp(), -60);
        assert_eq!(bucket_start(at, 0), at);
    }

    #[test]
    fn defaults_fill_every_setting_of_the_kind() {
        assert_eq!(
            DeviceConfig::normalize(DeviceKind::Lock, None).unwrap(),
            json!({"heartbeat_s": 30, "unlock_s": 5, "held_open_s": 30})
        );
        assert_eq!(
            DeviceConfig::normalize(DeviceKind::Reader, Some(&json!({"keypad": true}))).unwrap(),
            json!({"heartbeat_s": 30, "keypad": true, "wiegand_bits": 26})
        );
        assert_eq!(DeviceConfig::normalize(DeviceKind::Camera, None).unwrap(), json!({"heartbeat_s": 30}));
    }

    #[test]
    fn settings_of_another_kind_or_out_of_range_are_named() {
        let unknown = DeviceConfig::normalize(DeviceKind::Sensor, Some(&json!({"unlock_s": 5}))).unwrap_err();
        assert!(unknown.to_string().contains("unlock_s"), "{unknown}");
        let range = DeviceConfig::normalize(DeviceKind::Controller, Some(&json!({"unlock_s": 0}))).unwrap_err();
        assert!(range.to_string().contains("config.unlock_s"), "{range}");
        let kind = DeviceConfig::normalize(DeviceKind::Reader, Some(&json!({"heartbeat_s": "fast"}))).unwrap_err();
        assert!(kind.to_string().contains("heartbeat_s"), "{kind}");
        assert!(DeviceConfig::normalize(DeviceKind::Panel, Some(&json!([1]))).is_err());
    }
}
