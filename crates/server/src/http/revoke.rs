//! `POST /revoke` (RFC 7009): a client revokes one of its tokens.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::error::OAuthError;

use super::client_auth::{ClientAuth, OAuthForm};
use super::error::ApiError;
use super::introspect::TokenForm;
use crate::state::AppState;

/// Public clients may revoke their own tokens with their client id (RFC 7009 §2.1, §5).
pub async fn revoke_post(
    State(app): State<AppState>,
    auth: ClientAuth,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> Result<Response, ApiError> {
    let token = form.token.ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    let ring = app.keys.ring();
    latchkey_core::introspect::revoke(&app.store, &ring, &app.oidc.issuer, &auth.client, &token, app.clock.now())
        .await?;
    // RFC 7009 §2.2: 200 whether or not there was anything to revoke.
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response())
}
