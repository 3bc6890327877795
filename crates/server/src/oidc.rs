//! What the OpenID Connect endpoints share, prepared once at start-up from the configuration: the
//! discovery documents (static per configuration, so rendered once, not per request) and the
//! token settings.

use axum::body::Bytes;
use latchkey_core::tokens::TokenSettings;

use crate::config::Config;
use crate::http::discovery;

#[derive(Debug, Clone)]
pub struct Oidc {
    /// `iss`, exactly (`Config::issuer_str`).
    pub issuer: String,
    pub tokens: TokenSettings,
    /// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
    pub openid_configuration: Bytes,
    /// `/.well-known/oauth-authorization-server` (RFC 8414 §2).
    pub authorization_server_metadata: Bytes,
}

impl Oidc {
    pub fn new(config: &Config) -> Self {
        let doc = discovery::document(config);
        // Serializing a tree of strings, arrays and booleans cannot fail; an empty body would be noticed at once.
        let bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
        Self {
            issuer: config.issuer_str().to_owned(),
            tokens: TokenSettings::default(),
            openid_configuration: bytes.clone(),
            // RFC 8414 §3: the same metadata; OpenID Connect members are valid there too (§2).
            authorization_server_metadata: bytes,
        }
    }
}
