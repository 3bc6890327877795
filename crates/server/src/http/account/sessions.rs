//! `GET /account/sessions` and its two forms: where the person is signed in, and ending any other
//! session, or all of them at once.
//!
//! A session to end is named by its id in the form; it is ended only if it belongs to the account
//! of the session that asks, and anything else (another person's session, one already gone, junk)
//! gets the same 404, so the form cannot be used to probe for other people's sessions. The session
//! in use is not ended here: that is signing out, which has its own page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::model::{AuditOutcome, SessionId};
use latchkey_core::store::SessionStore as _;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;

use super::{When, audit_own, console_context, device, done};
use crate::auth::RequestMeta;
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, CurrentSession};
use crate::http::flash::{self, Flash};
use crate::http::page::render;
use crate::http::paths;
use crate::http::session::session_policy;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct SessionView {
    id: String,
    device: String,
    ip: Option<String>,
    signed_in: When,
    last_seen: When,
    remember_me: bool,
    this_device: bool,
}

pub async fn sessions_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let now = app.clock.now();
    let policy = session_policy(&app.config.session);
    let mut sessions: Vec<SessionView> = app
        .store
        .list_sessions_of(current.account.id)
        .await?
        .into_iter()
        // Expired sessions wait for the purge but are no longer signed in: not shown.
        .filter(|s| policy.check(s, now).is_valid())
        .map(|s| SessionView {
            id: s.id.to_string(),
            device: device::describe(s.user_agent.as_deref()),
            ip: s.client_ip.clone(),
            signed_in: When::of(s.auth_time),
            last_seen: When::of(s.last_seen_at),
            remember_me: s.remember_me,
            this_device: s.id == current.session.id,
        })
        .collect();
    // This browser first, then the others newest first (the store's order).
    sessions.sort_by_key(|s| !s.this_device);
    let others = sessions.iter().filter(|s| !s.this_device).count();
    let mut ctx = console_context(&current, "sessions", flash::take(&app, &cookies));
    ctx.insert("csrf_token", &csrf);
    ctx.insert("sessions", &sessions);
    ctx.insert("others", &others);
    render(&app, StatusCode::OK, "idp/account/sessions.html", &ctx)
}

#[derive(Debug, Deserialize)]
pub struct EndSessionForm {
    pub session_id: String,
}

pub async fn session_end_post(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(form): CsrfForm<EndSessionForm>,
) -> Result<Response, PageError> {
    let account = current.account.id;
    let id = uuid::Uuid::parse_str(form.session_id.trim()).map(SessionId).map_err(|_| PageError::NotFound)?;
    if id == current.session.id {
        return Err(PageError::BadRequest("This is the session you are using. To end it, sign out instead.".into()));
    }
    // Ownership is checked here, on the server: the id came from the browser.
    match app.store.find_session(id).await? {
        Some(session) if session.account_id == account => {}
        found => {
            if found.is_some() {
                tracing::warn!(%account, "attempt to end another account's session refused");
            }
            return Err(PageError::NotFound);
        }
    }
    let ended = app.store.delete_session(id).await?;
    audit_own(
        &app,
        "session.ended_by_user",
        account,
        None,
        AuditOutcome::Success,
        &meta,
        serde_json::json!({ "scope": "one", "session_id": id, "ended": u64::from(ended) }),
    )
    .await;
    Ok(done(&app, &cookies, Flash::SessionEnded, paths::ACCOUNT_SESSIONS))
}

/// The "end all other sessions" form has no fields but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn sessions_end_others_post(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let account = current.account.id;
    let ended = app.store.delete_sessions_of(account, Some(current.session.id)).await?;
    audit_own(
        &app,
        "session.ended_by_user",
        account,
        None,
        AuditOutcome::Success,
        &meta,
        serde_json::json!({ "scope": "others", "ended": ended }),
    )
    .await;
    Ok(done(&app, &cookies, Flash::OtherSessionsEnded, paths::ACCOUNT_SESSIONS))
}
