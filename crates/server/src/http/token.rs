//! `POST /token` (RFC 6749 §3.2): client authentication, then the grant the request names.

use axum::extract::State;
use axum::response::Response;
use latchkey_core::grants::{self, GrantContext, TokenRequest};

use super::client_auth::{ClientAuth, OAuthForm, no_store_json};
use super::error::ApiError;
use crate::state::AppState;

pub async fn token_post(
    State(app): State<AppState>,
    auth: ClientAuth,
    OAuthForm(req): OAuthForm<TokenRequest>,
) -> Result<Response, ApiError> {
    let ring = app.keys.ring();
    let ctx = GrantContext {
        store: &app.store,
        keys: &ring,
        settings: &app.oidc.tokens,
        issuer: &app.oidc.issuer,
        now: app.clock.now(),
        refresh: &app.oidc.refresh,
    };
    let response = grants::exchange(&ctx, &auth.client, req).await?;
    Ok(no_store_json(&response))
}
