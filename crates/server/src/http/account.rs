//! `/account`: the account console, where a signed-in person looks after their own account.
//! `GET /` leads here.
//!
//! One module per section (profile, password, sessions, connected applications, activity); this
//! one has the overview and what every section shares: the navigation, dates, the audit helper.
//! Every page needs a session (`CurrentSession`), every change is a CSRF-checked form post that
//! answers with a redirect and a flash message (post/redirect/get), and every change is audited.
//! A person only ever sees and changes their own account: each handler works on the account of
//! the session, never on an id taken from the request without checking it belongs to that account.

pub mod activity;
pub mod apps;
mod device;
pub mod password;
pub mod profile;
mod reauth;
pub mod sessions;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use chrono::{DateTime, Utc};
use latchkey_core::model::{AccountId, AuditEvent, AuditOutcome, ClientId};
use latchkey_core::store::{AuditStore as _, GrantStore as _, SessionStore as _};
use serde::Serialize;
use tera::Context;
use tower_cookies::Cookies;

use crate::auth::RequestMeta;
use crate::http::error::PageError;
use crate::http::extract::CurrentSession;
use crate::http::flash::{self, Flash, FlashView};
use crate::http::page::{no_store, render};
use crate::http::paths;
use crate::http::session::session_policy;
use crate::state::AppState;

pub async fn root_get() -> Redirect {
    Redirect::to(paths::ACCOUNT)
}

/// The console's sections, in the order of its navigation: (key, path, label).
const SECTIONS: [(&str, &str, &str); 6] = [
    ("overview", paths::ACCOUNT, "Overview"),
    ("profile", paths::ACCOUNT_PROFILE, "Profile"),
    ("password", paths::ACCOUNT_PASSWORD, "Password"),
    ("sessions", paths::ACCOUNT_SESSIONS, "Sessions"),
    ("apps", paths::ACCOUNT_APPS, "Connected apps"),
    ("activity", paths::ACCOUNT_ACTIVITY, "Activity"),
];

#[derive(Serialize)]
struct SectionLink {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// The context every console page starts from: who is signed in, the navigation with `section`
/// marked current, and the pending flash message.
fn console_context(current: &CurrentSession, section: &str, flash: Option<FlashView>) -> Context {
    let mut ctx = Context::new();
    let sections: Vec<SectionLink> =
        SECTIONS.iter().map(|(key, href, label)| SectionLink { href, label, current: *key == section }).collect();
    ctx.insert("sections", &sections);
    ctx.insert("username", &current.account.username);
    ctx.insert("display_name", &current.account.display_name);
    ctx.insert("flash", &flash);
    ctx.insert("form_error", &None::<String>);
    ctx
}

/// A moment as the pages show it, with its machine-readable form for `<time datetime>`.
#[derive(Debug, Clone, Serialize)]
struct When {
    text: String,
    iso: String,
}

impl When {
    fn of(at: DateTime<Utc>) -> Self {
        Self { text: at.format("%Y-%m-%d %H:%M UTC").to_string(), iso: at.to_rfc3339() }
    }
}

/// After a change: a message for the next page, and back to `to` (post/redirect/get, so reloading
/// the page never repeats the change). Never cached: it follows a state change.
fn done(app: &AppState, cookies: &Cookies, message: Flash, to: &str) -> Response {
    flash::set(app, cookies, message);
    let mut response = Redirect::to(to).into_response();
    no_store(&mut response);
    response
}

/// Writes an audit event about the person's own account (and, for connected applications, the
/// client). Like `auth::audit`, a write failure is logged and does not undo the person's action.
async fn audit_own(
    app: &AppState,
    event_type: &str,
    account: AccountId,
    client: Option<ClientId>,
    outcome: AuditOutcome,
    meta: &RequestMeta,
    detail: serde_json::Value,
) {
    let event = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: app.clock.now(),
        event_type: event_type.to_owned(),
        account_id: Some(account),
        // The person acted on their own account.
        actor_id: Some(account),
        client_id: client,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        outcome,
        detail,
    };
    if let Err(err) = app.store.insert_audit_event(event).await {
        tracing::error!(error = %err, event_type, "audit event could not be written");
    }
}

pub async fn account_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
) -> Result<Response, PageError> {
    let mut ctx = console_context(&current, "overview", flash::take(&app, &cookies));
    let CurrentSession { session, account } = &current;
    let now = app.clock.now();
    let policy = session_policy(&app.config.session);
    let sessions =
        app.store.list_sessions_of(account.id).await?.iter().filter(|s| policy.check(s, now).is_valid()).count();
    let apps = app.store.list_consents_of(account.id).await?.len();
    ctx.insert("email", &account.email);
    ctx.insert("email_verified", &account.email_verified);
    ctx.insert("password_change_required", &account.password_change_required);
    ctx.insert("signed_in", &session.auth_time.format("%Y-%m-%d %H:%M UTC").to_string());
    ctx.insert("signed_in_iso", &session.auth_time.to_rfc3339());
    ctx.insert("remember_me", &session.remember_me);
    ctx.insert("expires", &session.expires_at.format("%Y-%m-%d %H:%M UTC").to_string());
    ctx.insert("idle", &idle_words(app.config.session.idle_timeout.as_secs()));
    ctx.insert("session_count", &sessions);
    ctx.insert("app_count", &apps);
    ctx.insert("member_since", &When::of(account.created_at));
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
