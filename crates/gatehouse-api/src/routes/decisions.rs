//! `POST /api/v1/access/decide` and `POST /api/v1/access/explain`.
//!
//! A decision is answered from the tenant's in-memory snapshot, and only after
//! its access-log entry is durable: a client that got an answer will find it in
//! the log, whatever happens to the server next.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use gatehouse_access::chain::{EntryKind, LogRecord, GENESIS};
use gatehouse_access::{Direction, DoorAction, Outcome, Reason, Request, Rule, Snapshot, Subject};
use gatehouse_domain::audit::Actor;
use gatehouse_domain::{AccessPointId, CredentialId, DecisionId, PersonId, TenantId};
use gatehouse_store::CredentialUse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TenantHeader;
use crate::access::now_micros;
use crate::access::presented::PresentedCredential;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// How far a decision's `at` may stray from the server's clock (a reader's clock, a queued request).
pub const DECIDE_AT_SKEW_MAX_SECONDS: i64 = 300;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub access_point_id: AccessPointId,
    pub credential: PresentedCredential,
    /// The PIN typed at a card-plus-PIN reader.
    #[serde(default)]
    pub pin: Option<String>,
    /// `in` (default) or `out`.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// When the credential was presented; within 5 minutes of the server's clock (default: now).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub access_point_id: AccessPointId,
    /// A credential as a reader would present it…
    #[serde(default)]
    pub credential: Option<PresentedCredential>,
    /// …or a person, as if with a valid credential (and the right PIN).
    #[serde(default)]
    pub person_id: Option<PersonId>,
    #[serde(default)]
    pub pin: Option<String>,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Any instant, past or future (default: now).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// What decided, with the names of the level and schedule as they are now.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
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

fn view(outcome: &Outcome, snapshot: &Snapshot, point: AccessPointId, direction: Direction, at: DateTime<Utc>) -> DecisionView {
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
pub(crate) fn log_entry(tenant: TenantId, at: DateTime<Utc>, kind: EntryKind) -> LogRecord {
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

/// Who acted, as access-log entries record it in `detail.by`.
pub(crate) fn actor_json(actor: &Actor) -> serde_json::Value {
    serde_json::json!({"kind": actor.kind, "id": actor.id, "label": actor.label})
}

/// Decide whether a credential may pass an access point now.
///
/// The answer is sent only once its access-log entry is durable. Refusals are
/// decisions too (200 with `granted: false` and a `reason`); an access point that is
/// not in the tenant is a 404, and a malformed request a 4xx, neither logged.
#[utoipa::path(
    post, path = "/access/decide", tag = "access", request_body = DecideRequest, params(TenantHeader),
    responses((status = 200, body = DecisionView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn decide(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DecideRequest>,
) -> ApiResult<Json<DecisionView>> {
    let now = now_micros();
    let at = match body.at {
        Some(at) if (at - now).num_seconds().abs() > DECIDE_AT_SKEW_MAX_SECONDS => {
            return Err(ApiError::validation(
                "at",
                format!("more than {DECIDE_AT_SKEW_MAX_SECONDS} seconds from the server's clock; ask /access/explain about other instants"),
            ))
        }
        Some(at) => DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(now),
        None => now,
    };
    let asked = Asked {
        point: body.access_point_id,
        credential: &body.credential,
        pin: body.pin.as_deref(),
        direction: body.direction,
        at,
    };
    Ok(Json(decide_and_log(&state, ctx.tenant_id(), &ctx.caller.actor, asked).await?))
}

/// One credential presented at one access point: what `/access/decide` and a
/// reader's MQTT access request both ask.
pub(crate) struct Asked<'a> {
    pub point: AccessPointId,
    pub credential: &'a PresentedCredential,
    pub pin: Option<&'a str>,
    pub direction: Option<Direction>,
    pub at: DateTime<Utc>,
}

/// Decides from the tenant's snapshot and answers once the access-log entry is durable.
pub(crate) async fn decide_and_log(state: &AppState, tenant: TenantId, by: &Actor, asked: Asked<'_>) -> ApiResult<DecisionView> {
    let Asked { point, credential, pin, direction, at } = asked;
    let presented = credential.read()?;
    let direction = direction.unwrap_or(Direction::In);
    let engine = state.access.engine(tenant).await?;
    let request = Request { point, subject: Subject::Credential(presented), pin, direction, at };
    let outcome = engine
        .decide(&request)
        .ok_or_else(|| ApiError::not_found("no such access point in this tenant").with_field("access_point_id"))?;
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
    let mut detail = serde_json::json!({"by": actor_json(by)});
    if let Some(violation) = outcome.violation {
        detail["violation"] = violation.as_str().into();
    }
    entry.detail = Some(detail.to_string());
    let used = outcome
        .granted
        .then(|| outcome.credential.filter(|_| credential.kind == gatehouse_access::credential::CredentialKind::Qr))
        .flatten()
        .map(|credential| CredentialUse { tenant, credential, at });
    let sealed = state.access.log.append(entry, used).await?;
    metrics::counter!("gatehouse_access_decisions_total", "granted" => if outcome.granted { "true" } else { "false" })
        .increment(1);
    answer.decision_id = Some(sealed.id);
    answer.seq = Some(sealed.seq);
    Ok(answer)
}

/// Explain what a decision would be, for a credential or a person, at any instant. Changes nothing and logs nothing.
#[utoipa::path(
    post, path = "/access/explain", tag = "access", request_body = ExplainRequest, params(TenantHeader),
    responses((status = 200, body = DecisionView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn explain(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ExplainRequest>,
) -> ApiResult<Json<DecisionView>> {
    let subject = match (&body.credential, body.person_id) {
        (Some(credential), None) => Subject::Credential(credential.read()?),
        (None, Some(person)) => Subject::Person(person),
        _ => return Err(ApiError::validation("credential", "name exactly one of credential and person_id")),
    };
    let at = body.at.unwrap_or_else(now_micros);
    if (at - Utc::now()).abs() > Duration::days(366 * 100) {
        return Err(ApiError::validation("at", "within a century of now"));
    }
    let direction = body.direction.unwrap_or(Direction::In);
    let engine = state.access.engine(ctx.tenant_id()).await?;
    let request = Request { point: body.access_point_id, subject, pin: body.pin.as_deref(), direction, at };
    let outcome = engine
        .explain(&request)
        .ok_or_else(|| ApiError::not_found("no such access point in this tenant").with_field("access_point_id"))?;
    if matches!(subject, Subject::Person(_)) && outcome.person.is_none() && outcome.reason == Reason::UnknownCredential {
        return Err(ApiError::not_found("no such person in this tenant").with_field("person_id"));
    }
    Ok(Json(view(&outcome, &engine.snapshot(), body.access_point_id, direction, at)))
}
