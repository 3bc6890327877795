//! Liveness and readiness probes.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long the database has to answer a readiness ping.
pub const READY_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// `/healthz`: the process is alive and serving HTTP. Touches nothing else, so a slow database
/// never makes an orchestrator restart a healthy process.
pub async fn healthz_get() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

/// `/readyz`: 200 when the database answers a ping within [`READY_PING_TIMEOUT`], 503 otherwise,
/// so a load balancer stops sending traffic to a node that cannot serve it.
pub async fn readyz_get(State(app): State<AppState>) -> Response {
    let (status, body) = match tokio::time::timeout(READY_PING_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database ping failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        Err(_) => {
            tracing::warn!("readiness: database ping timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    };
    (status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
}
