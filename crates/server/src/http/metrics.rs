//! Prometheus metrics: request counts and latency per route, database pool gauges.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

pub const REQUESTS_TOTAL: &str = "latchkey_http_requests_total";
pub const REQUEST_DURATION: &str = "latchkey_http_request_duration_seconds";
pub const DB_POOL_CONNECTIONS: &str = "latchkey_db_pool_connections";
pub const DB_POOL_IDLE: &str = "latchkey_db_pool_idle_connections";

/// Latency buckets from 0.5 ms to 10 s: our endpoints answer in well under a millisecond (discovery)
/// up to hundreds of milliseconds (a password hash), and timeouts sit at seconds.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process-wide recorder once and returns its handle. The `metrics` facade has a
/// single global recorder, so tests that build several routers in one process share it.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed already; then ours just sees nothing new.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Middleware (as a route layer, so the matched route template is known): count and time every request.
/// Labels use the route template (`/users/{id}`), never the raw path, to keep cardinality bounded.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels[..2]).record(start.elapsed().as_secs_f64());
    response
}

/// `/metrics`: Prometheus text exposition format.
pub async fn metrics_get(State(app): State<AppState>) -> Response {
    let pool = app.store.pool_stats();
    let backend = app.store.backend_name();
    metrics::gauge!(DB_POOL_CONNECTIONS, "backend" => backend).set(f64::from(pool.size));
    metrics::gauge!(DB_POOL_IDLE, "backend" => backend).set(f64::from(pool.idle));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}
