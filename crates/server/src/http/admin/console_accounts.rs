//! Console pages for accounts: list and search, create, view and edit, disable, passwords,
//! sessions, delete. Disabling, setting a password, ending sessions and deleting each ask first,
//! on a GET page at the path their form posts to, saying what will be cut off.

use axum::extract::Path;
use axum::response::Response;
use latchkey_core::model::{Account, AccountId, Session, SessionId};
use serde::{Deserialize, Serialize};
use tera::Context;

use super::{Confirm, Console, Fields, Hidden, Pager, page_offset, paths, when};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, PageQuery};
use crate::service::accounts::{self, NewAccountInput, ProfileInput};
use crate::service::{Ctx, ServiceError, roles};

const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    username: String,
    email: String,
    display_name: Option<String>,
    disabled: bool,
    roles: Vec<String>,
    created: String,
}

fn account_path(id: AccountId) -> String {
    format!("{}/{id}", paths::ACCOUNTS)
}

fn parse_id(raw: &str) -> Result<AccountId, PageError> {
    raw.parse::<uuid::Uuid>().map(AccountId).map_err(|_| PageError::NotFound)
}

async fn load(ctx: &Ctx<'_>, raw: &str) -> Result<Account, PageError> {
    match accounts::find(ctx, parse_id(raw)?).await {
        Ok(a) => Ok(a),
        Err(ServiceError::NotFound { .. }) => Err(PageError::NotFound),
        Err(e) => Err(page_error(e)),
    }
}

pub fn page_error(err: ServiceError) -> PageError {
    match err {
        ServiceError::NotFound { .. } => PageError::NotFound,
        ServiceError::Unavailable | ServiceError::Busy => PageError::Unavailable { retry_after_secs: 5 },
        ServiceError::Internal(detail) => PageError::Internal(detail),
        other => PageError::BadRequest(super::sentence(&other)),
    }
}

pub async fn accounts_get(
    console: Console,
    csrf: CsrfToken,
    PageQuery(query): PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let (page_no, offset) = page_offset(query.page, PER_PAGE);
    let search = query.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let found = accounts::list(&svc, search, Some(PER_PAGE), Some(offset)).await.map_err(page_error)?;
    let rows: Vec<Row> = found
        .items
        .into_iter()
        .map(|s| Row {
            id: s.account.id.to_string(),
            username: s.account.username,
            email: s.account.email,
            display_name: s.account.display_name,
            disabled: s.account.disabled,
            roles: s.roles,
            created: when(s.account.created_at),
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("pager", &Pager::new(page_no, PER_PAGE, found.total, rows.len()));
    ctx.insert("accounts", &rows);
    ctx.insert("q", search.unwrap_or_default());
    ctx.insert("keep", "");
    console.page(&csrf, "accounts", "idp/admin/accounts.html", ctx)
}

async fn new_form(
    console: &Console,
    csrf: &CsrfToken,
    fields: &Fields,
    error: Option<&ServiceError>,
) -> Result<Response, PageError> {
    let all_roles = roles::list(&console.svc()).await.map_err(page_error)?;
    let mut ctx = Context::new();
    ctx.insert("roles", &all_roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>());
    ctx.insert("chosen", &fields.all("roles"));
    ctx.insert("username", fields.get("username"));
    ctx.insert("email", fields.get("email"));
    ctx.insert("display_name", fields.get("display_name"));
    ctx.insert("email_verified", &fields.checked("email_verified"));
    ctx.insert("require_change", &fields.checked("require_password_change"));
    let mut errors = std::collections::BTreeMap::new();
    if let Some(err) = error {
        errors.insert(err.field().unwrap_or("form"), super::sentence(err));
        ctx.insert("flash", &super::flash::AdminFlash::error("The account was not created: see below."));
    }
    ctx.insert("errors", &errors);
    console.page(csrf, "accounts", "idp/admin/account_new.html", ctx)
}

pub async fn account_new_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    new_form(&console, &csrf, &Fields::default(), None).await
}

pub async fn accounts_post(
    console: Console,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let input = NewAccountInput {
        username: fields.get("username").to_owned(),
        email: fields.get("email").to_owned(),
        display_name: fields.opt("display_name"),
        password: fields.get("password").to_owned(),
        roles: fields.all("roles"),
        email_verified: fields.checked("email_verified"),
        require_password_change: fields.checked("require_password_change"),
    };
    match accounts::create(&console.svc(), input).await {
        Ok(account) => Ok(console.done(&account_path(account.id), format!("Account {} created.", account.username))),
        Err(err @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. } | ServiceError::NotFound { .. })) => {
            new_form(&console, &csrf, &fields, Some(&err)).await
        }
        Err(err) => Err(page_error(err)),
    }
}

#[derive(Debug, Serialize)]
struct SessionRow {
    id: String,
    created: String,
    last_seen: String,
    expires: String,
    remember_me: bool,
    ip: Option<String>,
    user_agent: Option<String>,
}

pub async fn account_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let summary = accounts::summary(&svc, account).await.map_err(page_error)?;
    let all_roles = roles::list(&svc).await.map_err(page_error)?;
    let sessions = accounts::sessions(&svc, &summary.account).await.map_err(page_error)?;
    let a = &summary.account;
    let mut ctx = Context::new();
    ctx.insert("id", &a.id.to_string());
    ctx.insert("username", &a.username);
    ctx.insert("email", &a.email);
    ctx.insert("email_verified", &a.email_verified);
    ctx.insert("display_name", &a.display_name.clone().unwrap_or_default());
    ctx.insert("disabled", &a.disabled);
    ctx.insert("password_change_required", &a.password_change_required);
    ctx.insert("has_password", &a.password_hash.is_some());
    ctx.insert("created", &when(a.created_at));
    ctx.insert("updated", &when(a.updated_at));
    ctx.insert("roles", &all_roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>());
    ctx.insert("chosen", &summary.roles);
    ctx.insert("is_self", &(a.id == console.admin.current.account.id));
    let rows: Vec<SessionRow> = sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            expires: when(s.expires_at),
            remember_me: s.remember_me,
            ip: s.client_ip,
            user_agent: s.user_agent,
        })
        .collect();
    ctx.insert("sessions", &rows);
    console.page(&csrf, "accounts", "idp/admin/account.html", ctx)
}

pub async fn profile_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let input = ProfileInput {
        email: fields.get("email").to_owned(),
        display_name: fields.opt("display_name"),
        email_verified: fields.checked("email_verified"),
    };
    let result = accounts::update_profile(&svc, &account, input).await;
    console.outcome(&account_path(account.id), result, |a| format!("The profile of {} has been saved.", a.username))
}

pub async fn roles_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let result = roles::set_roles(&svc, &account, &Fields(form).all("roles")).await;
    console
        .outcome(&account_path(account.id), result, |()| format!("The roles of {} have been saved.", account.username))
}

// ---------------------------------------------------------------------------------------------
// What the confirmation pages say
// ---------------------------------------------------------------------------------------------

/// "alice (alice@example.com)": whom a confirmation page is about.
fn who(a: &Account) -> String {
    format!("{} ({})", a.username, a.email)
}

/// The account and its sessions that have not expired, for a confirmation page to count.
async fn with_sessions(console: &Console, id: &str) -> Result<(Account, Vec<Session>), PageError> {
    let svc = console.svc();
    let account = load(&svc, id).await?;
    let now = console.app.clock.now();
    let mut sessions = accounts::sessions(&svc, &account).await.map_err(page_error)?;
    sessions.retain(|s| s.expires_at > now);
    Ok((account, sessions))
}

/// "Their 3 active sessions end", as the first clause of a sentence.
fn their_sessions_end(n: usize) -> String {
    match n {
        0 => "They have no active session".to_owned(),
        1 => "Their 1 active session ends".to_owned(),
        n => format!("Their {n} active sessions end"),
    }
}

/// The confirmation of an account action whose form posts back to the page's own path.
fn account_confirm(account: &Account, title: String, message: String, action: &str, button: &'static str) -> Confirm {
    let path = account_path(account.id);
    Confirm::new(title, message, format!("{path}/{action}"), button, path)
}

// ---------------------------------------------------------------------------------------------
// Disable and enable
// ---------------------------------------------------------------------------------------------

pub async fn disable_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let (account, sessions) = with_sessions(&console, &id).await?;
    let message = format!(
        "Disable {}? {}; their tokens are revoked and they cannot sign in until the account is enabled again.",
        who(&account),
        their_sessions_end(sessions.len())
    );
    let title = format!("Disable {}", account.username);
    console.confirm(&csrf, "accounts", &account_confirm(&account, title, message, "disable", "Disable the account"))
}

async fn set_disabled(console: Console, id: String, disabled: bool) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let result = accounts::set_disabled(&svc, &account, disabled).await;
    console.outcome(&account_path(account.id), result, |d| {
        if disabled {
            format!(
                "{} is disabled: {} session(s) ended, {} token(s) revoked.",
                account.username, d.sessions_ended, d.tokens_revoked
            )
        } else {
            format!("{} is enabled again.", account.username)
        }
    })
}

pub async fn disable_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    set_disabled(console, id, true).await
}

/// Enabling gives access back, so it needs no confirmation.
pub async fn enable_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    set_disabled(console, id, false).await
}

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// The password form is its own confirmation page: setting a password ends every session of the
/// account, so the page says how many before anything is typed.
pub async fn password_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let (account, sessions) = with_sessions(&console, &id).await?;
    let mut message = format!(
        "Set a new password for {}? {}: they sign in again with the new password.",
        who(&account),
        their_sessions_end(sessions.len())
    );
    if account.id == console.admin.current.account.id {
        message.push_str(" This is your own account: the session you are using ends too.");
    }
    let title = format!("New password for {}", account.username);
    let what = account_confirm(&account, title, message, "password", "Set the password");
    console.page(&csrf, "accounts", "idp/admin/account_password.html", what.context()?)
}

pub async fn password_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let require = fields.checked("require_change");
    match accounts::set_password(&svc, &account, fields.get("password"), require).await {
        Ok(ended) => Ok(console.done(
            &account_path(account.id),
            format!("A new password is set for {}; {ended} session(s) ended.", account.username),
        )),
        // Back to the password form, to try again with the reason above it.
        Err(err) => console.failed(&format!("{}/password", account_path(account.id)), err),
    }
}

pub async fn require_change_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let required = Fields(form).get("required") != "false";
    let result = accounts::require_password_change(&svc, &account, required).await;
    console.outcome(&account_path(account.id), result, |()| {
        if required {
            format!("{} must choose a new password at the next sign-in.", account.username)
        } else {
            format!("{} no longer needs a new password.", account.username)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct SessionQuery {
    pub session_id: Option<String>,
}

fn session_id(raw: Option<&str>) -> Result<SessionId, PageError> {
    raw.unwrap_or_default()
        .parse::<uuid::Uuid>()
        .map(SessionId)
        .map_err(|_| PageError::BadRequest("The session to end is missing.".into()))
}

pub async fn session_end_get(
    console: Console,
    csrf: CsrfToken,
    Path(id): Path<String>,
    PageQuery(query): PageQuery<SessionQuery>,
) -> Result<Response, PageError> {
    let (account, sessions) = with_sessions(&console, &id).await?;
    let wanted = session_id(query.session_id.as_deref())?;
    let Some(session) = sessions.iter().find(|s| s.id == wanted) else {
        let gone = ServiceError::not_found("session", "this session has already ended");
        return console.failed(&account_path(account.id), gone);
    };
    let from = match (&session.client_ip, &session.user_agent) {
        (Some(ip), Some(agent)) => format!(" from {ip} ({})", agent.chars().take(60).collect::<String>()),
        (Some(ip), None) => format!(" from {ip}"),
        (None, Some(agent)) => format!(" ({})", agent.chars().take(60).collect::<String>()),
        (None, None) => String::new(),
    };
    let message = format!(
        "End the session of {} signed in at {}{from}, last seen at {}? That browser is signed out at its next \
         request; their other sessions, and tokens already issued to applications, stay valid.",
        who(&account),
        when(session.created_at),
        when(session.last_seen_at)
    );
    let title = format!("End a session of {}", account.username);
    let mut what = account_confirm(&account, title, message, "sessions/end", "End the session");
    what.hidden.push(Hidden { name: "session_id", value: session.id.to_string() });
    console.confirm(&csrf, "accounts", &what)
}

pub async fn session_end_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let session = session_id(Some(Fields(form).get("session_id")))?;
    let result = accounts::end_session(&svc, &account, session).await;
    console.outcome(&account_path(account.id), result, |()| "The session has been ended.".to_owned())
}

pub async fn sessions_end_all_get(
    console: Console,
    csrf: CsrfToken,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (account, sessions) = with_sessions(&console, &id).await?;
    let message = format!(
        "End every session of {}? {}: each browser they are signed in with is signed out at its next request. \
         The account stays enabled, so they can sign in again; tokens already issued to applications stay valid.",
        who(&account),
        their_sessions_end(sessions.len())
    );
    let title = format!("End the sessions of {}", account.username);
    console.confirm(
        &csrf,
        "accounts",
        &account_confirm(&account, title, message, "sessions/end-all", "End all sessions"),
    )
}

pub async fn sessions_end_all_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    let result = accounts::end_all_sessions(&svc, &account).await;
    console.outcome(&account_path(account.id), result, |n| format!("{n} session(s) of {} ended.", account.username))
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

pub async fn delete_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let account = load(&console.svc(), &id).await?;
    let message = format!(
        "Delete the account {}? Its sessions, tokens, consents and roles are deleted with it. This cannot be undone.",
        who(&account)
    );
    let title = format!("Delete {}", account.username);
    console.confirm(&csrf, "accounts", &account_confirm(&account, title, message, "delete", "Delete the account"))
}

pub async fn delete_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let account = load(&svc, &id).await?;
    match accounts::delete(&svc, &account).await {
        Ok(()) => Ok(console.done(paths::ACCOUNTS, format!("The account {} has been deleted.", account.username))),
        Err(err) => console.failed(&account_path(account.id), err),
    }
}
