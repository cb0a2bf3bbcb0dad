//! `POST /api/v1/access/decide` and `POST /api/v1/access/explain`.
//!
//! A decision is answered from the tenant's in-memory snapshot, and only after
//! its access-log entry is durable: a client that got an answer will find it in
//! the log, whatever happens to the server next.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use gatehouse_access::{Direction, Reason, Request, Subject};
use gatehouse_domain::{AccessPointId, PersonId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::TenantHeader;
use crate::auth::TenantContext;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use gatehouse_services::access::decision::{decide_and_log, view, Asked, DecisionView};
use gatehouse_services::access::presented::PresentedCredential;
use gatehouse_services::access::to_micros;

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
/// Decide whether a credential may pass an access point now.
///
/// The answer is sent only once its access-log entry is durable. Refusals are
/// decisions too (200 with `granted: false` and a `reason`); an access point that is
/// not in the tenant is a 404, and a malformed request a 4xx, neither logged.
#[utoipa::path(
    post, path = "/api/v1/access/decide", tag = "access", request_body = DecideRequest, params(TenantHeader),
    responses((status = 200, body = DecisionView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn decide(
    ctx: TenantContext,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DecideRequest>,
) -> ApiResult<Json<DecisionView>> {
    let now = to_micros(ctx.now());
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
    Ok(Json(decide_and_log(&state.access, ctx.tenant_id(), &ctx.caller().actor, asked).await?))
}

/// Explain what a decision would be, for a credential or a person, at any instant. Changes nothing and logs nothing.
#[utoipa::path(
    post, path = "/api/v1/access/explain", tag = "access", request_body = ExplainRequest, params(TenantHeader),
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
    let at = body.at.unwrap_or_else(|| to_micros(ctx.now()));
    if (at - ctx.now()).abs() > Duration::days(366 * 100) {
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
