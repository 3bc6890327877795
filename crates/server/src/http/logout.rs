//! `GET /logout` asks; `POST /logout` ends the session. GET never changes state, so a link or an
//! image pointing here cannot sign anyone out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use serde::Deserialize;
use tera::Context;
use tower_cookies::Cookies;

use crate::auth::{self, RequestMeta};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, OptionalSession};
use crate::http::flash;
use crate::http::page::render;
use crate::http::paths;
use crate::http::session::CookieSettings;
use crate::state::AppState;

/// The sign-out form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {}

pub async fn logout_get(
    State(app): State<AppState>,
    session: OptionalSession,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let Some(current) = session.current else {
        return Ok(Redirect::to(paths::LOGIN).into_response());
    };
    let mut ctx = Context::new();
    ctx.insert("csrf_token", &csrf);
    ctx.insert("username", &current.account.username);
    render(&app, StatusCode::OK, "idp/logout.html", &ctx)
}

pub async fn logout_post(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(LogoutForm {}): CsrfForm<LogoutForm>,
) -> Result<Response, PageError> {
    if let Some(current) = session.current {
        auth::end_session(&app, &current.session, "logout", &meta, serde_json::json!({})).await;
    }
    let settings = CookieSettings::new(&app.config);
    cookies.remove(settings.removal(settings.session_name()));
    // A message still pending for a page the person will not see now would show up after signing out.
    let _ = flash::take(&app, &cookies);
    render(&app, StatusCode::OK, "idp/signed_out.html", &Context::new())
}
