//! `Idempotency-Key` for POST: the same key and request get the same response and
//! one effect; the same key with another request gets 422.
//!
//! Only authenticated requests on matched routes take part. Keys are scoped by the
//! caller (principal) and the tenant it names, so callers never see each other's
//! keys. A claim is taken before the handler runs (a concurrent duplicate gets
//! 409), the response is stored afterwards, and a failed (5xx) request releases
//! the key for a retry.

use std::future::Future;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, SubsecRound as _, Utc};
use gatehouse_store::{IdempotencyClaim, IdempotencyOutcome, StoredResponse};
use sha2::{Digest, Sha256};

use crate::auth::{PlatformCaller, Principal, TenantContext, TENANT_HEADER};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::extract::read_body;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on a response that is a replay of a stored one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted, in bytes.
const KEY_BYTES_MAX: usize = 255;
/// A claim with no stored response after this long is taken as abandoned (the
/// server died mid-request); longer than any request is allowed to run.
const CLAIM_STALE_AFTER_SECONDS: i64 = 300;
/// Largest response remembered for replay, in bytes; a larger one is answered
/// in full the first time, and replays say that it ran but was not kept.
const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The one route whose body is CSV, with its own (larger) limit.
const IMPORT_ROUTE: &str = "/api/v1/people/import";

/// A step of [`crate::guard`]: only on matched routes, after authorization, before the handler.
pub async fn idempotency<Next, Answer>(state: &AppState, request: Request, next: Next) -> Response
where
    Next: FnOnce(Request) -> Answer,
    Answer: Future<Output = Response>,
{
    if request.method() != Method::POST {
        return next(request).await;
    }
    if !request.headers().contains_key(IDEMPOTENCY_KEY_HEADER) {
        return next(request).await;
    }
    // Only an authorized caller gets a key remembered (the authorizing layer runs
    // first and refuses everyone else before any body is read).
    let principal = match (request.extensions().get::<TenantContext>(), request.extensions().get::<PlatformCaller>()) {
        (Some(ctx), _) => ctx.caller().principal,
        (None, Some(platform)) => platform.caller.principal,
        (None, None) => return next(request).await,
    };
    let key = request.headers().get(IDEMPOTENCY_KEY_HEADER).and_then(|key| key.to_str().ok()).unwrap_or_default();
    if key.is_empty() || key.len() > KEY_BYTES_MAX || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return ApiError::invalid_header("Idempotency-Key", format!("must be 1 to {KEY_BYTES_MAX} visible ASCII characters"))
            .into_response();
    }
    let key = key.to_owned();
    match run_once(state, principal, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run_once<Next, Answer>(
    state: &AppState,
    principal: Principal,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response>
where
    Next: FnOnce(Request) -> Answer,
    Answer: Future<Output = Response>,
{
    let (parts, body) = request.into_parts();
    let is_import = parts.extensions.get::<MatchedPath>().is_some_and(|path| path.as_str() == IMPORT_ROUTE);
    let limit = if is_import { state.limits.import_body_bytes_max } else { state.limits.json_body_bytes_max };
    let body = read_body(body, limit).await.map_err(IntoResponse::into_response)?;

    let tenant = parts.headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut fingerprint = Sha256::new();
    fingerprint.update(parts.method.as_str().as_bytes());
    fingerprint.update(b" ");
    fingerprint.update(parts.uri.to_string().as_bytes());
    fingerprint.update(b"\n");
    fingerprint.update(&body);
    // Microseconds: the claim time is the claim's identity and must survive a round trip through either database.
    let now = Utc::now().trunc_subsecs(6);
    let claim = IdempotencyClaim {
        scope: format!("{}:{tenant}", principal.label()),
        key,
        fingerprint: hex::encode(fingerprint.finalize()),
        stale_before: now - Duration::seconds(CLAIM_STALE_AFTER_SECONDS),
    };

    match state.store.idempotency_claim(&claim, now).await.map_err(|e| ApiError::from(e).into_response())? {
        IdempotencyOutcome::Claimed => {}
        IdempotencyOutcome::Replay(stored) => return Ok(replay(stored)),
        IdempotencyOutcome::Mismatch => return Err(ApiError::idempotency_key_reused().into_response()),
        IdempotencyOutcome::InProgress => return Err(ApiError::idempotency_in_progress().into_response()),
    }

    let response = next(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    // Our own handlers made this body; read it whole, however large, so an effect
    // that already happened is never reported as a failure.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            if let Err(release) = state.store.idempotency_release(&claim.scope, &claim.key, now).await {
                // The key stays claimed until it expires: a retry is told the request is in progress.
                tracing::error!(error = %release, "could not release an idempotency key after a failed response");
            }
            return Err(ApiError::internal(&err).into_response());
        }
    };
    let remembered = if parts.status.is_server_error() {
        state.store.idempotency_release(&claim.scope, &claim.key, now).await
    } else {
        let stored = if body.len() <= RESPONSE_BYTES_MAX {
            let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            StoredResponse { status: parts.status.as_u16(), content_type: content_type.to_owned(), body: body.to_vec() }
        } else {
            too_large_to_keep(parts.status)
        };
        state.store.idempotency_complete(&claim.scope, &claim.key, now, &stored).await
    };
    if let Err(err) = remembered {
        tracing::error!(error = %err, "could not record an idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// What a replay answers when the original response was too large to keep.
fn too_large_to_keep(status: StatusCode) -> StoredResponse {
    let problem = serde_json::json!({
        "type": "urn:gatehouse:problem:idempotent_response_not_kept",
        "title": "The request already ran",
        "status": status.as_u16(),
        "detail": format!("a request with this Idempotency-Key already completed with status {}; its response was too large to keep for replay", status.as_u16()),
        "code": "idempotent_response_not_kept",
    });
    StoredResponse { status: status.as_u16(), content_type: PROBLEM_JSON.to_owned(), body: problem.to_string().into_bytes() }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
