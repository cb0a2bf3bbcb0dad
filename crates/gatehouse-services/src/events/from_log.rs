//! An access-log entry as the event it stands for: the one mapping, so that no event has
//! two names ([`EventType::of_log_entry`] names it; this fills in the rest).

use gatehouse_access::chain::LogRecord;
use gatehouse_domain::events::{EventSourceKind, EventSubjectKind, EventType, NewEvent};
use gatehouse_domain::EventId;

/// The version of the payload [`event_of`] writes.
pub const LOG_EVENT_PAYLOAD_VERSION: u16 = 1;

/// The event an entry stands for, if any. It happened when the entry reports (a device's own
/// instant) or else at the entry's `at`; it is about the access point, and it was caused by
/// the entry (its id is the event's `causation_id` and `correlation_id`).
pub fn event_of(record: &LogRecord) -> Option<NewEvent> {
    let event_type = EventType::of_log_entry(record.kind.as_str(), record.granted, record.reason.as_deref())?;
    let detail: Option<serde_json::Value> = record.detail.as_deref().and_then(|text| serde_json::from_str(text).ok());
    let by = detail.as_ref().and_then(|detail| detail.get("by"));
    let (source_kind, source_id) = source(by);
    let mut payload = serde_json::json!({
        "log_seq": record.seq,
        "log_entry_id": record.id,
        "access_point_id": record.access_point_id,
        "person_id": record.person_id,
        "credential_id": record.credential_id,
        "credential_kind": record.credential_kind,
        "direction": record.direction,
        "granted": record.granted,
        "reason": record.reason,
        "door_action": record.door_action,
        "recorded_in_log_at": record.at,
    });
    if let Some(detail) = detail {
        payload["detail"] = detail;
    }
    let entry = record.id.as_uuid();
    Some(NewEvent {
        id: EventId::generate(),
        event_type,
        site_id: None,
        occurred_at: record.reported_at().unwrap_or(record.at),
        source_kind,
        source_id,
        subject_kind: record.access_point_id.map(|_| EventSubjectKind::AccessPoint),
        subject_id: record.access_point_id.map(|id| id.as_uuid()),
        correlation_id: Some(entry),
        causation_id: Some(entry),
        payload_version: LOG_EVENT_PAYLOAD_VERSION,
        payload,
    })
}

/// Who acted, from the entry's `detail.by`: a device, an account (or its API key), or the system.
fn source(by: Option<&serde_json::Value>) -> (EventSourceKind, Option<String>) {
    let kind = by.and_then(|by| by.get("kind")).and_then(|kind| kind.as_str());
    let id = by.and_then(|by| by.get("id")).and_then(|id| id.as_str()).map(str::to_owned);
    let kind = match kind {
        Some("device") => EventSourceKind::Device,
        Some("account" | "api_key" | "bootstrap") => EventSourceKind::Account,
        _ => EventSourceKind::System,
    };
    let id = id.filter(|id| id.len() <= gatehouse_domain::events::EVENT_SOURCE_ID_MAX);
    (kind, id)
}
