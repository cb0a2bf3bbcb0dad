//! Request metrics in Prometheus form, and the recorder behind `/metrics`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS_TOTAL: &str = "gatehouse_http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "gatehouse_http_request_duration_seconds";

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (several servers in one test process):
            // then this handle still renders, just without the other recorder's series.
            if metrics::set_global_recorder(recorder).is_ok() {
                crate::metric_descriptions::describe_all();
            }
            handle
        })
        .clone()
}

/// A step of [`crate::guard`]: counts and times every routed request by route
/// template, method and status.
pub async fn track<Next, Answer>(request: Request, next: Next) -> Response
where
    Next: FnOnce(Request) -> Answer,
    Answer: Future<Output = Response>,
{
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next(request).await;
    let route = route.as_ref().map_or("unmatched", |path| path.as_str());
    let (requests, duration) = request_metrics(route, method, response.status().as_u16());
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    response
}

type RequestMetrics = (metrics::Counter, metrics::Histogram);
/// Route template, then method and status.
type SeriesByRoute = HashMap<String, HashMap<(Method, u16), RequestMetrics>>;

/// The two series of one route, method and status, registered once and then found
/// without building their labels again: every request passes here.
fn request_metrics(route: &str, method: Method, status: u16) -> RequestMetrics {
    static SERIES: OnceLock<RwLock<SeriesByRoute>> = OnceLock::new();
    let series = SERIES.get_or_init(Default::default);
    if let Some(found) = series.read().ok().and_then(|routes| routes.get(route)?.get(&(method.clone(), status)).cloned()) {
        return found;
    }
    let labels = [("route", route.to_owned()), ("method", method.as_str().to_owned()), ("status", status.to_string())];
    let registered =
        (metrics::counter!(HTTP_REQUESTS_TOTAL, &labels), metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels));
    if let Ok(mut routes) = series.write() {
        routes.entry(route.to_owned()).or_default().insert((method, status), registered.clone());
    }
    registered
}
