//! `GET /jwks`: the published public keys (next, active, recently retired), serialized once per
//! key refresh ([`crate::keys::KeyService::jwks`]) and served from memory.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Fifteen minutes: far shorter than the one day a `next` key is published before a scheduled
/// rotation activates it ([`crate::keys::publish_ahead`]), so every relying party has the new key
/// cached before the first token it signs.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=900";

pub async fn jwks_get(State(app): State<AppState>) -> Response {
    (
        [
            // RFC 7517 §8.5.1.
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            (header::CACHE_CONTROL, HeaderValue::from_static(JWKS_CACHE_CONTROL)),
        ],
        app.keys.jwks(),
    )
        .into_response()
}
