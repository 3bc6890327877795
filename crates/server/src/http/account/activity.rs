//! `GET /account/activity`: the person's recent sign-ins, failed attempts and changes to their
//! account, from the audit log, newest first, a page at a time.
//!
//! Only events about this account are read (the query is keyed by the session's account). The
//! server-side `detail` is never shown: it can hold reasons kept from the person on purpose (why a
//! sign-in failed) and other people's data. When someone else acted on the account (an
//! administrator), their address and device are not shown either.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use latchkey_core::store::AuditStore as _;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;

use super::{When, console_context, device};
use crate::http::error::PageError;
use crate::http::extract::{CurrentSession, PageQuery};
use crate::http::flash;
use crate::http::page::render;
use crate::state::AppState;

/// Events per page.
pub const PER_PAGE: u64 = 25;
/// Pages past this are not offered: the console shows recent activity, the audit log the rest.
const MAX_PAGE: u64 = 400;

#[derive(Debug, Default, Deserialize)]
pub struct ActivityQuery {
    pub page: Option<u64>,
}

/// An event type in words. Unknown types (added later, or by other parts) get a neutral phrase
/// rather than their internal name.
fn describe(event: &AuditEvent) -> &'static str {
    let ok = event.outcome == AuditOutcome::Success;
    match event.event_type.as_str() {
        "login.success" => "Signed in",
        "login.failure" => "Failed sign-in attempt",
        "login.throttled" => "Sign-in attempts paused after too many failures",
        "logout" => "Signed out",
        "session.expired" => "Session expired",
        "session.ended" => "Session ended",
        "session.replaced" => "Signed in again in the same browser",
        "session.ended_by_user" => "Signed out other sessions",
        "account.signup" => "Account created",
        "account.created" => "Account created by an administrator",
        "account.profile_updated" => "Display name changed",
        "account.email_changed" if ok => "Email address changed",
        "account.email_changed" => "Email address change refused",
        "account.password_changed" => "Password changed",
        "account.password_set" => "Password set by an administrator",
        "account.reauth_failure" => "Wrong current password entered in the account console",
        "account.reauth_throttled" => "Password checks paused after too many wrong passwords",
        "account.disabled" => "Account disabled",
        "account.enabled" => "Account enabled",
        "account.role_granted" => "Role granted",
        "account.role_revoked" => "Role removed",
        "consent.granted" => "Allowed an application",
        "consent.revoked" => "Revoked an application's access",
        _ if ok => "Account activity",
        _ => "Refused account activity",
    }
}

#[derive(Debug, Serialize)]
struct EventView {
    at: When,
    what: &'static str,
    failed: bool,
    by_someone_else: bool,
    ip: Option<String>,
    device: Option<String>,
}

pub async fn activity_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    PageQuery(query): PageQuery<ActivityQuery>,
) -> Result<Response, PageError> {
    let me = current.account.id;
    let page = query.page.unwrap_or(1).clamp(1, MAX_PAGE);
    // One more than a page, to know whether there is a next one without counting them all.
    let audit_query = AuditQuery {
        account_id: Some(me),
        limit: PER_PAGE + 1,
        offset: (page - 1) * PER_PAGE,
        ..AuditQuery::default()
    };
    let mut events = app.store.list_audit_events(&audit_query).await?;
    let has_next = events.len() as u64 > PER_PAGE && page < MAX_PAGE;
    events.truncate(usize::try_from(PER_PAGE).unwrap_or(usize::MAX));
    let views: Vec<EventView> = events
        .iter()
        // Defence in depth: the store filtered by account already.
        .filter(|e| e.account_id == Some(me))
        .map(|e| {
            let by_someone_else = e.actor_id.is_some_and(|actor| actor != me);
            EventView {
                at: When::of(e.at),
                what: describe(e),
                failed: e.outcome != AuditOutcome::Success,
                by_someone_else,
                ip: if by_someone_else { None } else { e.ip.clone() },
                device: if by_someone_else { None } else { Some(device::describe(e.user_agent.as_deref())) },
            }
        })
        .collect();
    let mut ctx = console_context(&current, "activity", flash::take(&app, &cookies));
    ctx.insert("events", &views);
    ctx.insert("page", &page);
    ctx.insert("prev_page", &(page > 1).then(|| page - 1));
    ctx.insert("next_page", &has_next.then(|| page + 1));
    render(&app, StatusCode::OK, "idp/account/activity.html", &ctx)
}
