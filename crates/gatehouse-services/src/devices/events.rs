//! `…/events`: what happened at a door, and what a controller decided on its own
//! while it could not reach Gatehouse. Both go into the access log in the order the
//! device sent them and settle once the entry is durable. The device's own instant
//! (`ts`) is kept as `detail.reported_at`, within bounds; an event that arrives well
//! after it came from a backlog and says so (`detail.late`).
//!
//! An offline decision is a fact to record, not a request: Gatehouse logs what the
//! controller decided (granted or not, and why), whose credential it was as far as
//! the current policy knows, and never decides it again.

use chrono::{DateTime, SubsecRound as _, Utc};
use gatehouse_access::chain::{EntryKind, LogRecord};
use gatehouse_access::{Direction, Reason};
use gatehouse_domain::devices::{Device, DoorEventKind};
use gatehouse_domain::AccessPointId;
use gatehouse_mqtt::upstream::{settled, Incoming, Outcome, Settling};
use gatehouse_store::DeviceMessageKey;
use serde::Deserialize;

use super::ingest::{device_of, malformed, message_id_problem, Ingest};
use super::watch_state::device_actor;
use crate::access::decision::{actor_json, log_entry};
use crate::access::now_micros;
use crate::access::presented::PresentedCredential;

/// How far ahead of the server's clock a device event's `ts` may be (device clocks drift).
pub const EVENT_FUTURE_SKEW_MAX: chrono::Duration = chrono::Duration::minutes(5);
/// How old a device event's `ts` may be: a controller's offline buffer of several weeks.
pub const EVENT_AGE_MAX: chrono::Duration = chrono::Duration::days(31);
/// An event that arrives this long after its `ts` is marked `late` (it came from a backlog).
pub const EVENT_LATE_AFTER: chrono::Duration = chrono::Duration::minutes(1);
/// The `kind` of an offline decision on `…/events`.
pub const OFFLINE_DECISION: &str = "access_decided_offline";

/// A door or input event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMessage {
    #[serde(default)]
    pub ts: Option<DateTime<Utc>>,
    pub kind: DoorEventKind,
    /// Defaults to the access point the device serves.
    #[serde(default)]
    pub access_point_id: Option<AccessPointId>,
    /// The device's own id for the message, so that a message sent again is recognised.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// `{"kind": "access_decided_offline", …}`: a decision the controller made from its own
/// cached list while offline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineDecisionMessage {
    #[allow(dead_code)]
    kind: String,
    /// When the controller decided: required, since that is what the entry is about.
    pub ts: DateTime<Utc>,
    pub credential: PresentedCredential,
    pub granted: bool,
    /// One of the decision reason codes (`granted` for a grant).
    pub reason: Reason,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Defaults to the access point the device serves.
    #[serde(default)]
    pub access_point_id: Option<AccessPointId>,
    #[serde(default)]
    pub message_id: Option<String>,
}

/// Just the kind, to know which message it is.
#[derive(Deserialize)]
struct KindOnly {
    kind: String,
}

pub(super) async fn take(state: &Ingest, message: &Incoming) -> Settling {
    let device = match device_of(state, &message.topic).await {
        Ok(device) => device,
        Err(outcome) => return settled(outcome),
    };
    let offline =
        matches!(serde_json::from_slice::<KindOnly>(&message.payload), Ok(KindOnly { kind }) if kind == OFFLINE_DECISION);
    let entry = if offline { offline_decision(state, &device, message).await } else { door_event(state, &device, message) };
    let (entry, message_id) = match entry {
        Ok(entry) => entry,
        Err(outcome) => return settled(outcome),
    };
    let key =
        message_id.map(|message_id| DeviceMessageKey { tenant: device.tenant_id, device: device.id, message_id, at: entry.at });
    let written = match state.access.log.queue_reported(entry, key).await {
        Ok(written) => written,
        Err(err) => return settled(Outcome::unkept(err.detail())),
    };
    let device = device.id;
    Box::pin(async move {
        match written.await {
            Ok(_) => Outcome::Kept,
            Err(err) => {
                tracing::warn!(error = %err, %device, "could not log a device event");
                Outcome::unkept(err.detail())
            }
        }
    })
}

/// An entry and the device's message id, or why the message is refused.
type Read = Result<(LogRecord, Option<String>), Outcome>;

fn door_event(state: &Ingest, device: &Device, message: &Incoming) -> Read {
    let event: EventMessage =
        serde_json::from_slice(&message.payload).map_err(|err| malformed(format!("not an event message: {err}")))?;
    let point = served_point(device, event.access_point_id)?;
    let now = now_micros();
    let reported = Reported::check(event.ts.unwrap_or(now), now, event.message_id.as_deref())?;
    // A late event is history: it tells the log what happened, not the watch what is open now.
    match (event.kind, point, reported.late) {
        (DoorEventKind::DoorOpened, Some(point), false) => state.devices.watch.door_opened(point, device, reported.at),
        (DoorEventKind::DoorClosed, Some(point), false) => state.devices.watch.door_closed(point),
        _ => {}
    }
    let mut entry = log_entry(device.tenant_id, now, EntryKind::DoorEvent);
    entry.access_point_id = point;
    entry.reason = Some(event.kind.as_str().to_owned());
    let mut detail = serde_json::json!({"event": event.kind});
    reported.describe(device, &mut detail);
    entry.detail = Some(detail.to_string());
    metrics::counter!("gatehouse_door_events_total", "kind" => event.kind.as_str()).increment(1);
    Ok((entry, event.message_id))
}

async fn offline_decision(state: &Ingest, device: &Device, message: &Incoming) -> Read {
    let decision: OfflineDecisionMessage =
        serde_json::from_slice(&message.payload).map_err(|err| malformed(format!("not an offline decision: {err}")))?;
    if decision.granted != (decision.reason == Reason::Granted) {
        let problem = if decision.granted { "a grant's reason is `granted`" } else { "a refusal's reason is not `granted`" };
        return Err(malformed(format!("reason: {problem}")));
    }
    let Some(point) = served_point(device, decision.access_point_id)? else {
        return Err(Outcome::refused("foreign_access_point", "the device serves no access point"));
    };
    let now = now_micros();
    let reported = Reported::check(decision.ts, now, decision.message_id.as_deref())?;
    let presented = decision.credential.read().map_err(|err| malformed(err.detail()))?;
    // Whose credential it was, as far as the policy knows now; nothing is decided.
    let identified = match state.access.engine(device.tenant_id).await {
        Ok(engine) => engine.snapshot().identify(presented),
        Err(err) => return Err(Outcome::unkept(err.detail())),
    };
    let mut entry = log_entry(device.tenant_id, now, EntryKind::OfflineDecision);
    entry.access_point_id = Some(point);
    entry.person_id = identified.map(|(person, _)| person);
    entry.credential_id = identified.map(|(_, credential)| credential);
    entry.credential_kind = Some(decision.credential.kind.as_str().to_owned());
    entry.direction = Some(decision.direction.unwrap_or(Direction::In).as_str().to_owned());
    entry.granted = Some(decision.granted);
    entry.reason = Some(decision.reason.as_str().to_owned());
    let mut detail = serde_json::json!({"decided_offline": true});
    reported.describe(device, &mut detail);
    entry.detail = Some(detail.to_string());
    let granted = if decision.granted { "true" } else { "false" };
    metrics::counter!("gatehouse_offline_decisions_total", "granted" => granted).increment(1);
    Ok((entry, decision.message_id))
}

/// The access point a device's message is about: the one it names, which must be the one it
/// serves, or else the one it serves (if any).
fn served_point(device: &Device, named: Option<AccessPointId>) -> Result<Option<AccessPointId>, Outcome> {
    match (named, device.access_point_id) {
        (Some(named), Some(served)) if named != served => {
            Err(Outcome::refused("foreign_access_point", "the device does not serve that access point"))
        }
        (Some(_), None) => Err(Outcome::refused("foreign_access_point", "the device serves no access point")),
        (_, served) => Ok(served),
    }
}

/// A device's own instant for what it reports, checked against the server's clock.
struct Reported<'a> {
    at: DateTime<Utc>,
    late: bool,
    message_id: Option<&'a str>,
}

impl<'a> Reported<'a> {
    fn check(at: DateTime<Utc>, now: DateTime<Utc>, message_id: Option<&'a str>) -> Result<Reported<'a>, Outcome> {
        // To the microsecond, like every instant the log keeps (and compares).
        let at = at.trunc_subsecs(6);
        if let Some(problem) = message_id.and_then(message_id_problem) {
            return Err(malformed(problem));
        }
        if at > now + EVENT_FUTURE_SKEW_MAX {
            return Err(malformed(format!("ts {at} is ahead of the server's clock")));
        }
        if at < now - EVENT_AGE_MAX {
            return Err(malformed(format!("ts {at} is more than {} days old", EVENT_AGE_MAX.num_days())));
        }
        Ok(Reported { at, late: at < now - EVENT_LATE_AFTER, message_id })
    }

    /// Adds the device's instant, who reported it, its message id and lateness to `detail`.
    /// Every field of an entry is hashed; a late arrival is told here.
    fn describe(&self, device: &Device, detail: &mut serde_json::Value) {
        detail["reported_at"] = serde_json::json!(self.at);
        detail["by"] = actor_json(&device_actor(device));
        if let Some(id) = self.message_id {
            detail["message_id"] = serde_json::Value::from(id);
        }
        if self.late {
            detail["late"] = serde_json::Value::Bool(true);
        }
    }
}
