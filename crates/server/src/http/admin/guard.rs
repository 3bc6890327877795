//! Who may use `/admin`: checked on the server for every request, by extractors every admin
//! handler takes, so no route can forget it.
//!
//! - [`AdminSession`] (console pages): a signed-in person with the `admin` role. Anonymous
//!   visitors are sent to the sign-in page (which brings them back); a signed-in person without
//!   the role gets a 403 page that says so.
//! - [`AdminBearer`] (API): a bearer access token issued by Latchkey (signature, issuer, expiry,
//!   and its `jti` record, so revocation is exact) carrying the `latchkey:admin` scope. A
//!   client_credentials token stands for its client, which must still exist and still be allowed
//!   the scope; a person's token additionally needs an enabled account with the `admin` role now,
//!   not only when the token was issued.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::model::ClientId;
use latchkey_core::scope::has_scope;
use latchkey_core::store::{AccountStore as _, ClientStore as _, GrantStore as _, RoleStore as _};
use latchkey_core::tokens::verify_access_token;

use super::api_error::AdminApiError;
use crate::auth::RequestMeta;
use crate::http::error::PageError;
use crate::http::extract::CurrentSession;
use crate::service::{ADMIN_ROLE, ADMIN_SCOPE, Actor, Ctx};
use crate::state::AppState;

/// The message of the 403 page for signed-in people without the role.
pub const NOT_ADMIN_MESSAGE: &str = "This area is for Latchkey administrators, and your account does not have the \
                                     admin role. If you need access, ask an administrator.";

/// A signed-in administrator (console pages).
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub current: CurrentSession,
    pub meta: RequestMeta,
}

impl AdminSession {
    pub fn ctx<'a>(&self, app: &'a AppState) -> Ctx<'a> {
        service_ctx(app, Actor::Admin(self.current.account.id), "console", self.meta.clone())
    }
}

/// The service context for a request.
pub fn service_ctx<'a>(app: &'a AppState, actor: Actor, via: &'static str, meta: RequestMeta) -> Ctx<'a> {
    Ctx::new(&app.config, &app.store, app.clock.as_ref(), &app.passwords, actor, via, meta)
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let current = CurrentSession::from_request_parts(parts, app).await?;
        let roles = app.store.roles_of(current.account.id).await.map_err(|e| PageError::from(e).into_response())?;
        if !roles.iter().any(|r| r == ADMIN_ROLE) {
            tracing::info!(account = %current.account.id, path = parts.uri.path(), "non-admin refused from /admin");
            return Err(PageError::Forbidden(NOT_ADMIN_MESSAGE.into()).into_response());
        }
        let Ok(meta) = RequestMeta::from_request_parts(parts, app).await;
        Ok(Self { current, meta })
    }
}

/// An authorised caller of the admin API.
#[derive(Debug, Clone)]
pub struct AdminBearer {
    pub actor: Actor,
    pub meta: RequestMeta,
}

impl AdminBearer {
    pub fn ctx<'a>(&self, app: &'a AppState) -> Ctx<'a> {
        service_ctx(app, self.actor.clone(), "api", self.meta.clone())
    }
}

/// The realm of the admin API's `WWW-Authenticate` challenges.
pub const ADMIN_REALM: &str = "latchkey-admin";

fn unauthorized(error: Option<&str>, message: &str) -> AdminApiError {
    // RFC 6750 §3.1: no error code when the request had no credentials at all.
    let challenge = match error {
        None => format!("Bearer realm=\"{ADMIN_REALM}\""),
        Some(code) => format!("Bearer realm=\"{ADMIN_REALM}\", error=\"{code}\""),
    };
    AdminApiError::new(StatusCode::UNAUTHORIZED, error.unwrap_or("unauthorized"), message).with_challenge(challenge)
}

fn forbidden(message: &str) -> AdminApiError {
    let challenge = format!("Bearer realm=\"{ADMIN_REALM}\", error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\"");
    AdminApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", message).with_challenge(challenge)
}

impl FromRequestParts<AppState> for AdminBearer {
    type Rejection = AdminApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let token = match (values.next(), values.next()) {
            (Some(v), None) => match v.to_str().ok().map(str::trim).and_then(|v| v.split_once(' ')) {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    token.trim().to_owned()
                }
                _ => return Err(unauthorized(Some("invalid_request"), "Use `Authorization: Bearer <access token>`.")),
            },
            (None, _) => {
                return Err(unauthorized(None, "A bearer access token with the latchkey:admin scope is required."));
            }
            (Some(_), Some(_)) => {
                return Err(unauthorized(Some("invalid_request"), "The Authorization header is repeated."));
            }
        };
        let now = app.clock.now();
        let invalid = || unauthorized(Some("invalid_token"), "The access token is invalid, expired or revoked.");
        let ring = app.keys.ring();
        let claims = verify_access_token(&ring, &app.oidc.issuer, &token, now).map_err(|_| invalid())?;
        // The record, not the signature, knows about revocation; the scopes are the record's.
        let record =
            app.store.find_access_token(&claims.jti).await.map_err(AdminApiError::from)?.ok_or_else(invalid)?;
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(invalid());
        }
        if !has_scope(&record.scopes, ADMIN_SCOPE) {
            return Err(forbidden("The access token lacks the latchkey:admin scope."));
        }
        let actor = match record.account_id {
            Some(account_id) => {
                let account = app.store.find_account(account_id).await.map_err(AdminApiError::from)?;
                let Some(account) = account.filter(|a| !a.disabled) else { return Err(invalid()) };
                let roles = app.store.roles_of(account.id).await.map_err(AdminApiError::from)?;
                if !roles.iter().any(|r| r == ADMIN_ROLE) {
                    return Err(forbidden("The token's account does not have the admin role."));
                }
                Actor::Admin(account.id)
            }
            None => {
                let client = app.store.find_client(&record.client_id).await.map_err(AdminApiError::from)?;
                match client {
                    Some(c) if c.scopes.iter().any(|s| s == ADMIN_SCOPE) => Actor::Client(ClientId(c.id.0)),
                    Some(_) => return Err(forbidden("The client is no longer allowed the latchkey:admin scope.")),
                    None => return Err(invalid()),
                }
            }
        };
        let Ok(meta) = RequestMeta::from_request_parts(parts, app).await;
        Ok(Self { actor, meta })
    }
}
