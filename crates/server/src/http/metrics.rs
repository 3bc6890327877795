//! Prometheus metrics: request counts and latency per route, database pool gauges.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
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
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let (requests, duration) =
        handles(route.as_ref().map_or("unmatched", MatchedPath::as_str), &method, response.status());
    requests.increment(1);
    duration.record(start.elapsed().as_secs_f64());
    response
}

type Handles = (metrics::Counter, metrics::Histogram);

/// The registered counter and histogram of one (route, method, status), looked up once and then
/// reused: registering by labels on every request costs a few allocations and a registry lookup.
/// Bounded: past `MAX_CACHED` combinations (only an odd client inventing methods gets there) the
/// handles are registered per request as before, not cached.
fn handles(route: &str, method: &Method, status: StatusCode) -> Handles {
    const MAX_CACHED: usize = 512;
    type Cache = HashMap<String, HashMap<(Method, u16), Handles>>;
    static CACHE: OnceLock<RwLock<(usize, Cache)>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new((0, HashMap::new())));
    let key = (method.clone(), status.as_u16());
    if let Some(found) = cache.read().unwrap_or_else(|p| p.into_inner()).1.get(route).and_then(|m| m.get(&key)) {
        return found.clone();
    }
    let labels = [("method", method.as_str().to_owned()), ("route", route.to_owned())];
    let status_label = ("status", status.as_u16().to_string());
    let counter_labels = [labels[0].clone(), labels[1].clone(), status_label];
    let found = (metrics::counter!(REQUESTS_TOTAL, &counter_labels), metrics::histogram!(REQUEST_DURATION, &labels));
    let mut guard = cache.write().unwrap_or_else(|p| p.into_inner());
    if guard.0 < MAX_CACHED {
        guard.0 += 1;
        guard.1.entry(route.to_owned()).or_default().insert(key, found.clone());
    }
    found
}

/// How often recorded latencies are folded into their histograms ([`upkeep_loop`]).
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Folds recorded latencies into the histograms every second, for as long as the server runs. The
/// recorder (made by `build_recorder`, which starts no upkeep of its own) keeps every sample until
/// then: without this, a server nobody scrapes grows by 8 bytes per request, some 20 MiB after a
/// ten-second benchmark of discovery. With it, at most a second's worth of samples is held.
pub async fn upkeep_loop(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// `/metrics`: Prometheus text exposition format.
pub async fn metrics_get(State(app): State<AppState>) -> Response {
    let pool = app.store.pool_stats();
    let backend = app.store.backend_name();
    metrics::gauge!(DB_POOL_CONNECTIONS, "backend" => backend).set(f64::from(pool.size));
    metrics::gauge!(DB_POOL_IDLE, "backend" => backend).set(f64::from(pool.idle));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}
