//! `GET /account`: the signed-in person's own details. `GET /` leads here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use tera::Context;
use tower_cookies::Cookies;

use crate::http::error::PageError;
use crate::http::extract::CurrentSession;
use crate::http::flash;
use crate::http::page::render;
use crate::http::paths;
use crate::state::AppState;

pub async fn root_get() -> Redirect {
    Redirect::to(paths::ACCOUNT)
}

pub async fn account_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
) -> Result<Response, PageError> {
    let CurrentSession { session, account } = current;
    let mut ctx = Context::new();
    ctx.insert("flash", &flash::take(&app, &cookies));
    ctx.insert("username", &account.username);
    ctx.insert("email", &account.email);
    ctx.insert("email_verified", &account.email_verified);
    ctx.insert("display_name", &account.display_name);
    ctx.insert("signed_in", &session.auth_time.format("%Y-%m-%d %H:%M UTC").to_string());
    ctx.insert("signed_in_iso", &session.auth_time.to_rfc3339());
    ctx.insert("remember_me", &session.remember_me);
    ctx.insert("expires", &session.expires_at.format("%Y-%m-%d %H:%M UTC").to_string());
    let idle = app.config.session.idle_timeout;
    ctx.insert("idle", &idle_words(idle.as_secs()));
    render(&app, StatusCode::OK, "idp/account.html", &ctx)
}

/// "an hour", "2 hours", "30 minutes": the idle timeout in words.
fn idle_words(secs: u64) -> String {
    match secs {
        3600 => "an hour".to_owned(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}
