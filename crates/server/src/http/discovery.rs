//! Discovery: `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and
//! `/.well-known/oauth-authorization-server` (RFC 8414). Built from the route constants in
//! [`paths`] and the configuration, rendered once at start-up ([`crate::oidc::Oidc`]), and served
//! from memory with a public cache lifetime.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::keys::Algorithm;
use latchkey_core::model::GrantType;
use latchkey_core::scope::OIDC_SCOPES;
use serde_json::{Value, json};

use super::paths;
use crate::config::Config;
use crate::state::AppState;

/// Claims we can put in ID tokens or userinfo (OIDC Discovery §3 `claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 17] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "sid",
    "amr",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "roles",
];

/// The metadata document: exactly what this server supports, no more.
pub fn document(config: &Config) -> Value {
    let issuer = config.issuer_str();
    let url = |path: &str| format!("{issuer}{path}");
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(paths::AUTHORIZE),
        "token_endpoint": url(paths::TOKEN),
        "userinfo_endpoint": url(paths::USERINFO),
        "jwks_uri": url(paths::JWKS),
        "end_session_endpoint": url(paths::END_SESSION),
        "introspection_endpoint": url(paths::INTROSPECT),
        "revocation_endpoint": url(paths::REVOKE),
        // The OpenID Connect scopes, and the scope of the admin API (`/admin/api`).
        "scopes_supported": ([&OIDC_SCOPES[..], &[crate::service::ADMIN_SCOPE]].concat()),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        // RFC 7662 §2.1: introspection needs an authenticated client; public clients cannot introspect.
        "introspection_endpoint_auth_methods_supported": secret_methods,
        // RFC 7009 §2.1: a public client may revoke its own tokens with its client_id.
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent"],
        // RFC 9207 §3.
        "authorization_response_iss_parameter_supported": true,
    })
}

fn cached_json(body: axum::body::Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            // Static per configuration; an hour keeps relying parties from refetching it on every login.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

pub async fn openid_configuration_get(State(app): State<AppState>) -> Response {
    cached_json(app.oidc.openid_configuration.clone())
}

pub async fn authorization_server_metadata_get(State(app): State<AppState>) -> Response {
    cached_json(app.oidc.authorization_server_metadata.clone())
}
