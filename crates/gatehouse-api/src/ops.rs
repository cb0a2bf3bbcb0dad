//! Operations endpoints: liveness, readiness, metrics and the OpenAPI document.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
    pub version: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: state.version, backend: state.store.backend().as_str() })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json"))
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    if let Err(err) = state.store.ping().await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return Err(ApiError::unavailable("the database is unreachable"));
    }
    match state.store.pending_migrations().await {
        Ok(0) => Ok(Json(Health { status: "ready", version: state.version, backend: state.store.backend().as_str() })),
        Ok(pending) => Err(ApiError::unavailable(format!("{pending} migration(s) not applied; run `gatehouse migrate`"))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: cannot read migrations");
            Err(ApiError::unavailable("cannot read the migration state"))
        }
    }
}

/// Prometheus metrics: requests by route, method and status, latency histograms,
/// the database pool and build info.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let pool = state.store.pool_stats();
    let backend = state.store.backend().as_str();
    metrics::gauge!("gatehouse_db_pool_connections", "backend" => backend).set(f64::from(pool.connections));
    metrics::gauge!("gatehouse_db_pool_idle_connections", "backend" => backend).set(f64::from(pool.idle_connections));
    metrics::gauge!("gatehouse_db_pool_max_connections", "backend" => backend).set(f64::from(pool.max_connections));
    metrics::gauge!("gatehouse_build_info", "version" => state.version, "backend" => backend).set(1.0);
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// The OpenAPI 3.1 description of this API, generated from the code.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> Response {
    // Rendered by `router()` at start; only a router built some other way gets here first.
    let document = openapi_document(|| crate::api_routes().1).clone();
    let mut response = (StatusCode::OK, document).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The rendered OpenAPI document, rendered from `spec` the first time it is
/// asked for: the routes never change while the process runs.
pub(crate) fn openapi_document(spec: impl FnOnce() -> utoipa::openapi::OpenApi) -> &'static Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    DOCUMENT.get_or_init(|| Bytes::from(spec().to_pretty_json().unwrap_or_default()))
}
