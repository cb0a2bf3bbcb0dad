//! Devices: the controllers, readers, locks, sensors, panels, cameras and
//! attendance terminals that talk to Gatehouse over MQTT, and the settings
//! each kind accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::code_enum;
use crate::values::Name;
use crate::{AccessPointId, DeviceId, TenantId, ValidationError, ZoneId};

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
    /// The device's settings every kind shares.
    pub fn heartbeat_seconds(&self) -> u32 {
        self.config.get("heartbeat_s").and_then(|value| value.as_u64()).map_or(DEFAULT_HEARTBEAT_S, |s| s as u32)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
