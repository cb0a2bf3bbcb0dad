//! `Idempotency-Key` for POST: the same key and request get the same response and
//! one effect; the same key with another request gets 422.
//!
//! Keys are scoped by a digest of the caller's credential and the tenant it names,
//! so callers never see each other's keys and no secret is stored. A claim is
//! taken before the handler runs (a concurrent duplicate gets 409), the response
//! is stored afterwards, and a failed (5xx) request releases the key for a retry.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use gatehouse_store::{IdempotencyClaim, IdempotencyOutcome, StoredResponse};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::read_body;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on a response that is a replay of a stored one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted, in bytes.
const KEY_BYTES_MAX: usize = 255;
/// A claim with no stored response after this long is taken as abandoned (the server died mid-request).
const CLAIM_STALE_AFTER_SECONDS: i64 = 60;
/// Largest response remembered for replay, in bytes.
const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= KEY_BYTES_MAX && key.bytes().all(|b| b.is_ascii_graphic()) => key.to_owned(),
        _ => {
            return ApiError::invalid_header("Idempotency-Key", format!("must be 1 to {KEY_BYTES_MAX} visible ASCII characters"))
                .into_response()
        }
    };
    match run_once(state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run_once(state: AppState, key: String, request: Request, next: Next) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let limit = state.limits.import_body_bytes_max.max(state.limits.json_body_bytes_max);
    let body = read_body(body, limit).await.map_err(IntoResponse::into_response)?;

    let header_text = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let credential = Sha256::digest(header_text(header::AUTHORIZATION.as_str()).as_bytes());
    let scope = format!("{}:{}", hex::encode(&credential[..16]), header_text(crate::auth::TENANT_HEADER));
    let mut fingerprint = Sha256::new();
    fingerprint.update(parts.method.as_str().as_bytes());
    fingerprint.update(b" ");
    fingerprint.update(parts.uri.to_string().as_bytes());
    fingerprint.update(b"\n");
    fingerprint.update(&body);
    let now = Utc::now();
    let claim = IdempotencyClaim {
        scope,
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

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, RESPONSE_BYTES_MAX).await {
        Ok(body) => body,
        Err(err) => {
            let _ = state.store.idempotency_release(&claim.scope, &claim.key).await;
            return Err(ApiError::internal(&err).into_response());
        }
    };
    let remembered = if parts.status.is_server_error() {
        state.store.idempotency_release(&claim.scope, &claim.key).await
    } else {
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let stored = StoredResponse { status: parts.status.as_u16(), content_type: content_type.to_owned(), body: body.to_vec() };
        state.store.idempotency_complete(&claim.scope, &claim.key, &stored).await
    };
    if let Err(err) = remembered {
        tracing::error!(error = %err, "could not record an idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
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
