//! One decision, as the API answers it and the access log keeps it: shared by
//! `POST /access/decide`, a reader's MQTT access request, and the other
//! entries (door modes, lockdowns, unlocks, device events) the log holds.

use chrono::{DateTime, Utc};
use gatehouse_access::chain::{EntryKind, LogRecord, GENESIS};
use gatehouse_access::{Direction, DoorAction, Outcome, Reason, Request, Rule, Snapshot, Subject};
use gatehouse_domain::audit::Actor;
use gatehouse_domain::{AccessPointId, CredentialId, DecisionId, PersonId, TenantId};
use gatehouse_store::CredentialUse;
use serde::Serialize;

use super::presented::PresentedCredential;
use super::AccessService;
use crate::error::{ServiceError, ServiceResult};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleView {
    #[serde(flatten)]
    pub rule: Rule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl RuleView {
    fn of(rule: Rule, snapshot: &Snapshot) -> RuleView {
        RuleView {
            rule,
            access_level: rule.access_level_id.and_then(|id| snapshot.level_name(id)).map(|name| name.as_str().to_owned()),
            schedule: rule.schedule_id.and_then(|id| snapshot.schedule_name(id)).map(|name| name.as_str().to_owned()),
        }
    }
}

/// The answer: `reason` is one of the codes in docs/access.md.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    /// The access-log entry's id (absent for explanations, which are not logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<DecisionId>,
    pub granted: bool,
    pub reason: Reason,
    pub person_id: Option<PersonId>,
    pub credential_id: Option<CredentialId>,
    pub rule: RuleView,
    pub door_action: DoorAction,
    /// Granted, but breaching soft anti-passback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<Reason>,
    pub access_point_id: AccessPointId,
    pub direction: Direction,
    pub at: DateTime<Utc>,
    /// The access-log sequence number of the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

pub fn view(
    outcome: &Outcome,
    snapshot: &Snapshot,
    point: AccessPointId,
    direction: Direction,
    at: DateTime<Utc>,
) -> DecisionView {
    DecisionView {
        decision_id: None,
        granted: outcome.granted,
        reason: outcome.reason,
        person_id: outcome.person,
        credential_id: outcome.credential,
        rule: RuleView::of(outcome.rule, snapshot),
        door_action: outcome.door_action,
        violation: outcome.violation,
        access_point_id: point,
        direction,
        at,
        seq: None,
    }
}

/// An entry for the access log, before the writer numbers and seals it.
pub fn log_entry(tenant: TenantId, at: DateTime<Utc>, kind: EntryKind) -> LogRecord {
    LogRecord {
        tenant_id: tenant,
        seq: 0,
        id: DecisionId::generate(),
        at,
        kind,
        access_point_id: None,
        person_id: None,
        credential_id: None,
        credential_kind: None,
        direction: None,
        granted: None,
        reason: None,
        door_action: None,
        rule: None,
        detail: None,
        prev_hash: GENESIS,
        hash: GENESIS,
    }
}

/// A decision's `detail`: written straight to text, the same as `{"by": actor_json(by)}`
/// with the soft anti-passback violation after it.
#[derive(Serialize)]
struct DecisionDetail<'a> {
    by: &'a Actor,
    #[serde(skip_serializing_if = "Option::is_none")]
    violation: Option<&'static str>,
}

/// Who acted, as access-log entries record it in `detail.by`.
pub fn actor_json(actor: &Actor) -> serde_json::Value {
    serde_json::json!({"kind": actor.kind, "id": actor.id, "label": actor.label})
}

/// One credential presented at one access point: what `/access/decide` and a
/// reader's MQTT access request both ask.
pub struct Asked<'a> {
    pub point: AccessPointId,
    pub credential: &'a PresentedCredential,
    pub pin: Option<&'a str>,
    pub direction: Option<Direction>,
    pub at: DateTime<Utc>,
}

/// Decides from the tenant's snapshot and answers once the access-log entry is durable.
pub async fn decide_and_log(
    access: &AccessService,
    tenant: TenantId,
    by: &Actor,
    asked: Asked<'_>,
) -> ServiceResult<DecisionView> {
    let Asked { point, credential, pin, direction, at } = asked;
    let presented = credential.read()?;
    let direction = direction.unwrap_or(Direction::In);
    let engine = access.engine(tenant).await?;
    let request = Request { point, subject: Subject::Credential(presented), pin, direction, at };
    let outcome = engine.decide(&request).ok_or_else(|| ServiceError::NotFound {
        detail: "no such access point in this tenant".into(),
        field: Some("access_point_id"),
    })?;
    let snapshot = engine.snapshot();
    let mut answer = view(&outcome, &snapshot, point, direction, at);

    let mut entry = log_entry(tenant, at, EntryKind::Decision);
    entry.access_point_id = Some(point);
    entry.person_id = outcome.person;
    entry.credential_id = outcome.credential;
    entry.credential_kind = Some(credential.kind.as_str().to_owned());
    entry.direction = Some(direction.as_str().to_owned());
    entry.granted = Some(outcome.granted);
    entry.reason = Some(outcome.reason.as_str().to_owned());
    entry.door_action = Some(outcome.door_action.as_str().to_owned());
    entry.rule = serde_json::to_string(&answer.rule).ok();
    entry.detail = serde_json::to_string(&DecisionDetail { by, violation: outcome.violation.map(|v| v.as_str()) }).ok();
    let used = outcome
        .granted
        .then(|| outcome.credential.filter(|_| credential.kind == gatehouse_access::credential::CredentialKind::Qr))
        .flatten()
        .map(|credential| CredentialUse { tenant, credential, at });
    let sealed = access.log.append(entry, used).await?;
    metrics::counter!("gatehouse_access_decisions_total", "granted" => if outcome.granted { "true" } else { "false" })
        .increment(1);
    answer.decision_id = Some(sealed.id);
    answer.seq = Some(sealed.seq);
    Ok(answer)
}
