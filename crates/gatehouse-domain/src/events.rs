//! The event log's vocabulary: every kind of thing that happens, by one name each.
//!
//! An event is what the rules, alarms, notifications and the live stream react to.
//! Its type is a dotted code (`door.forced`) that never changes once published; its
//! payload is versioned by `payload_version`. Where an event comes from an access-log
//! entry, [`EventType::of_log_entry`] is the one mapping, so that no event has two names.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EventId, SiteId, TenantId, ValidationError};

macro_rules! event_types {
    ($($variant:ident => $code:literal),+ $(,)?) => {
        /// What an event says happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant),+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $code),+
                }
            }
        }
    };
}

event_types! {
    AccessGranted => "access.granted",
    AccessDenied => "access.denied",
    AccessDecidedOffline => "access.decided_offline",
    DoorOpened => "door.opened",
    DoorClosed => "door.closed",
    DoorForced => "door.forced",
    DoorHeldOpen => "door.held_open",
    DoorTamper => "door.tamper",
    DoorExitButton => "door.exit_button",
    DoorAlarmInput => "door.alarm_input",
    DoorRemoteUnlock => "door.remote_unlock",
    DoorModeChanged => "door.mode_changed",
    LockdownStarted => "lockdown.started",
    LockdownEnded => "lockdown.ended",
    PresenceForgiven => "presence.forgiven",
    DeviceOnline => "device.online",
    DeviceOffline => "device.offline",
    SensorReading => "sensor.reading",
    CommandAcked => "command.acked",
    CommandFailed => "command.failed",
    CommandTimedOut => "command.timed_out",
    AlarmRaised => "alarm.raised",
    AlarmAcknowledged => "alarm.acknowledged",
    AlarmCleared => "alarm.cleared",
    AlarmEscalated => "alarm.escalated",
    AutomationFired => "automation.fired",
    NotificationRequested => "notification.requested",
}

impl EventType {
    /// The accepted codes, for error messages.
    pub fn expected() -> String {
        EventType::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join("|")
    }

    /// The event an access-log entry becomes: its `kind` code, whether it granted, and its
    /// `reason` (a device event's code for door events). `None`: an entry no event stands for.
    pub fn of_log_entry(kind: &str, granted: Option<bool>, reason: Option<&str>) -> Option<EventType> {
        Some(match (kind, granted, reason) {
            ("decision", Some(true), _) => EventType::AccessGranted,
            ("decision", _, _) => EventType::AccessDenied,
            ("offline_decision", _, _) => EventType::AccessDecidedOffline,
            ("door_mode", _, _) => EventType::DoorModeChanged,
            ("lockdown", _, _) => EventType::LockdownStarted,
            ("lockdown_release", _, _) => EventType::LockdownEnded,
            ("forgive", _, _) => EventType::PresenceForgiven,
            ("remote_unlock", _, _) => EventType::DoorRemoteUnlock,
            ("door_event", _, Some("door_opened")) => EventType::DoorOpened,
            ("door_event", _, Some("door_closed")) => EventType::DoorClosed,
            ("door_event", _, Some("door_forced")) => EventType::DoorForced,
            ("door_event", _, Some("door_held_open")) => EventType::DoorHeldOpen,
            ("door_event", _, Some("tamper")) => EventType::DoorTamper,
            ("door_event", _, Some("exit_button")) => EventType::DoorExitButton,
            ("door_event", _, Some("alarm_input")) => EventType::DoorAlarmInput,
            _ => return None,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<EventType, ValidationError> {
        EventType::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ValidationError::new("type", format!("'{text}' is not one of {}", EventType::expected())))
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventType, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|err: ValidationError| serde::de::Error::custom(err.message))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(EventType::ALL.iter().map(|kind| kind.as_str())))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for EventType {}

crate::code_enum!(
    /// Who or what an event comes from.
    EventSourceKind { Device => "device", Account => "account", Rule => "rule", System => "system" }
);

crate::code_enum!(
    /// What an event is about.
    EventSubjectKind { Person => "person", AccessPoint => "access_point", Device => "device", Alarm => "alarm", Automation => "automation" }
);

/// Longest source id (an account, device or rule id; `gatehouse` for the system).
pub const EVENT_SOURCE_ID_MAX: usize = 64;

/// An event before the log numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub site_id: Option<SiteId>,
    /// When it happened (a device's own instant where one reported it).
    pub occurred_at: DateTime<Utc>,
    pub source_kind: EventSourceKind,
    pub source_id: Option<String>,
    pub subject_kind: Option<EventSubjectKind>,
    pub subject_id: Option<uuid::Uuid>,
    /// The chain of cause and effect this event belongs to.
    pub correlation_id: Option<uuid::Uuid>,
    /// The event (or decision) that caused this one.
    pub causation_id: Option<uuid::Uuid>,
    pub payload_version: u16,
    pub payload: serde_json::Value,
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub tenant_id: TenantId,
    /// The tenant's event sequence number, gapless from 1 (not the access log's `seq`).
    pub event_seq: i64,
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub site_id: Option<SiteId>,
    pub occurred_at: DateTime<Utc>,
    /// When the log took it.
    pub recorded_at: DateTime<Utc>,
    pub source_kind: EventSourceKind,
    pub source_id: Option<String>,
    pub subject_kind: Option<EventSubjectKind>,
    pub subject_id: Option<uuid::Uuid>,
    pub correlation_id: Option<uuid::Uuid>,
    pub causation_id: Option<uuid::Uuid>,
    pub payload_version: u16,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_code_and_json() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>().unwrap(), *kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), *kind);
        }
        let err = "door.exploded".parse::<EventType>().unwrap_err();
        assert!(err.message.contains("door.forced"), "{}", err.message);
    }

    #[test]
    fn every_access_log_entry_has_one_event_name() {
        assert_eq!(EventType::of_log_entry("decision", Some(true), Some("granted")), Some(EventType::AccessGranted));
        assert_eq!(EventType::of_log_entry("decision", Some(false), Some("pin_wrong")), Some(EventType::AccessDenied));
        assert_eq!(EventType::of_log_entry("door_event", None, Some("door_forced")), Some(EventType::DoorForced));
        assert_eq!(EventType::of_log_entry("door_event", None, Some("tamper")), Some(EventType::DoorTamper));
        assert_eq!(
            EventType::of_log_entry("offline_decision", Some(true), Some("granted")),
            Some(EventType::AccessDecidedOffline)
        );
        assert_eq!(EventType::of_log_entry("door_event", None, Some("door_exploded")), None);
        assert_eq!(EventType::of_log_entry("nonsense", None, None), None);
    }
}
