//! `POST /introspect` (RFC 7662): an authenticated confidential client asks whether a token is active.

use axum::extract::State;
use axum::response::Response;
use latchkey_core::error::OAuthError;
use latchkey_core::model::TokenEndpointAuthMethod;
use serde::Deserialize;

use super::client_auth::{ClientAuth, OAuthForm, no_store_json};
use super::error::ApiError;
use crate::state::AppState;

/// RFC 7662 §2.1 / RFC 7009 §2.1 parameters. `token_type_hint` is accepted and not needed: the
/// token's shape tells an access token (a JWT) from a refresh token.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

pub async fn introspect_post(
    State(app): State<AppState>,
    auth: ClientAuth,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> Result<Response, ApiError> {
    // RFC 7662 §2.1: the endpoint requires authorization; a public client proves nothing.
    if auth.method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::invalid_client("Introspection requires client authentication.").into());
    }
    let token = form.token.ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    let ring = app.keys.ring();
    let answer = latchkey_core::introspect::introspect(
        &app.store,
        &ring,
        &app.oidc.issuer,
        &auth.client,
        &token,
        app.clock.now(),
    )
    .await?;
    Ok(no_store_json(&answer))
}
