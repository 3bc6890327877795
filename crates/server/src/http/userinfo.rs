//! `GET` and `POST /userinfo` (OpenID Connect Core §5.3) with a bearer token (RFC 6750).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latchkey_core::error::OAuthError;
use serde::Deserialize;

use super::client_auth::{OAuthForm, REALM, no_store_json};
use super::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct UserinfoForm {
    pub access_token: Option<String>,
}

/// No credentials at all: RFC 6750 §3.1 says the challenge then carries no error code.
fn missing_token() -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_request",
        description: "A bearer access token is required.".into(),
        www_authenticate: Some(format!("Bearer realm=\"{REALM}\"")),
    }
}

/// The bearer token from the `Authorization` header (RFC 6750 §2.1) or, for POST, the form body
/// (§2.2); never both (§2: "Clients MUST NOT use more than one method").
fn bearer_token(headers: &HeaderMap, body: Option<String>) -> Result<String, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let header_token = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("The Authorization header is repeated.").into()),
        (Some(v), None) => {
            let v = v.to_str().map_err(|_| missing_token())?;
            match v.trim().split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(missing_token()),
            }
        }
    };
    match (header_token, body) {
        (Some(_), Some(_)) => {
            Err(OAuthError::invalid_request("Send the access token once, not in the header and the body.").into())
        }
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(missing_token()),
    }
}

async fn answer(app: &AppState, token: &str) -> Result<Response, ApiError> {
    let ring = app.keys.ring();
    let info = latchkey_core::userinfo::userinfo(&app.store, &ring, &app.oidc.issuer, token, app.clock.now()).await?;
    Ok(no_store_json(&info))
}

pub async fn userinfo_get(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = bearer_token(&headers, None)?;
    answer(&app, &token).await
}

pub async fn userinfo_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<UserinfoForm>,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers, form.access_token)?;
    answer(&app, &token).await
}
