//! What the OpenID Connect endpoints share, prepared once at start-up from the configuration: the
//! discovery documents (static per configuration, so rendered once, not per request) and the
//! token settings.

use axum::body::Bytes;
use latchkey_core::grants::refresh_token::RefreshPolicy;
use latchkey_core::tokens::TokenSettings;

use crate::config::Config;
use crate::http::discovery;

#[derive(Debug, Clone)]
pub struct Oidc {
    /// `iss`, exactly (`Config::issuer_str`).
    pub issuer: String,
    pub tokens: TokenSettings,
    /// Refresh-token lifetimes and reuse grace, from `[tokens]`.
    pub refresh: RefreshPolicy,
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
            refresh: refresh_policy(config),
            openid_configuration: bytes.clone(),
            // RFC 8414 §3: the same metadata; OpenID Connect members are valid there too (§2).
            authorization_server_metadata: bytes,
        }
    }
}

fn refresh_policy(config: &Config) -> RefreshPolicy {
    let d = |std: std::time::Duration| chrono::Duration::from_std(std).unwrap_or(chrono::Duration::MAX);
    let t = &config.tokens;
    RefreshPolicy {
        idle_lifetime: d(t.refresh_token_idle_lifetime),
        absolute_lifetime: d(t.refresh_token_absolute_lifetime),
        reuse_grace: d(t.refresh_reuse_grace),
        first_party_without_offline_access: t.first_party_refresh_tokens,
    }
}
