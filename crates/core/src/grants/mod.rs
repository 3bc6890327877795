//! The token endpoint's grants (RFC 6749 §4, §6), one module per grant, and the dispatch on
//! `grant_type`.
//!
//! The client is already authenticated when these run (the server's `ClientAuth`); each grant
//! checks that the client may use it (`unauthorized_client`) and then its own rules. To add a
//! grant: a module here with an `exchange` function, and an arm in [`exchange`].

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{OAuthError, OAuthErrorCode};
use crate::jws::KeyRing;
use crate::model::Client;
use crate::store::Store;
use crate::tokens::TokenSettings;

/// What every grant needs besides the request.
pub struct GrantContext<'a, S: ?Sized> {
    pub store: &'a S,
    pub keys: &'a KeyRing,
    pub settings: &'a TokenSettings,
    /// Exactly as in `iss` (`Config::issuer_str`).
    pub issuer: &'a str,
    pub now: DateTime<Utc>,
    /// Refresh-token lifetimes and reuse grace (`[tokens]` in the configuration).
    pub refresh: &'a refresh_token::RefreshPolicy,
}

/// The token request's parameters (RFC 6749 §4.1.3, §4.4.2, §6), as received. Client credentials
/// in the body (`client_id`, `client_secret`) are the server's `ClientAuth`'s business.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// RFC 6750: `Bearer`.
    pub token_type: &'static str,
    pub expires_in: i64,
    /// RFC 6749 §5.1: always sent, so the client never has to guess what it got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Runs the grant the request names.
pub async fn exchange<S: Store + ?Sized>(
    ctx: &GrantContext<'_, S>,
    client: &Client,
    req: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    match req.grant_type.as_deref() {
        None => Err(OAuthError::invalid_request("grant_type is required.")),
        Some("client_credentials") => client_credentials::exchange(ctx, client, &req).await,
        Some("authorization_code") => authorization_code::exchange(ctx, client, &req).await,
        Some("refresh_token") => refresh_token::exchange(ctx, client, &req).await,
        Some(_) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            "This grant type is not supported by this server.",
        )),
    }
}
