//! Console pages for accounts: list and search, create, view and edit, disable, passwords,
//! sessions, delete (after a confirmation page).

use axum::extract::{Path, State};
use axum::response::Response;
use latchkey_core::model::{AccountId, SessionId};
use serde::{Deserialize, Serialize};
use tera::Context;
use tower_cookies::Cookies;

use super::guard::AdminSession;
use super::{Fields, Pager, done, failed, page, page_offset, paths, when};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, PageQuery};
use crate::service::accounts::{self, NewAccountInput, ProfileInput};
use crate::service::{Ctx, ServiceError, roles};
use crate::state::AppState;

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

async fn load(ctx: &Ctx<'_>, raw: &str) -> Result<latchkey_core::model::Account, PageError> {
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
    State(app): State<AppState>,
    admin: AdminSession,
    csrf: CsrfToken,
    cookies: Cookies,
    PageQuery(query): PageQuery<ListQuery>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
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
    page(&app, &cookies, &admin, "accounts", &csrf.0, "idp/admin/accounts.html", ctx)
}

async fn new_form(
    app: &AppState,
    cookies: &Cookies,
    admin: &AdminSession,
    csrf: &str,
    fields: &Fields,
    error: Option<&ServiceError>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(app);
    let all_roles = roles::list(&svc).await.map_err(page_error)?;
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
    page(app, cookies, admin, "accounts", csrf, "idp/admin/account_new.html", ctx)
}

pub async fn account_new_get(
    State(app): State<AppState>,
    admin: AdminSession,
    csrf: CsrfToken,
    cookies: Cookies,
) -> Result<Response, PageError> {
    new_form(&app, &cookies, &admin, &csrf.0, &Fields::default(), None).await
}

pub async fn accounts_post(
    State(app): State<AppState>,
    admin: AdminSession,
    csrf: CsrfToken,
    cookies: Cookies,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let input = NewAccountInput {
        username: fields.get("username").to_owned(),
        email: fields.get("email").to_owned(),
        display_name: fields.opt("display_name"),
        password: fields.get("password").to_owned(),
        roles: fields.all("roles"),
        email_verified: fields.checked("email_verified"),
        require_password_change: fields.checked("require_password_change"),
    };
    match accounts::create(&svc, input).await {
        Ok(account) => {
            Ok(done(&app, &cookies, &account_path(account.id), format!("Account {} created.", account.username)))
        }
        Err(err @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. } | ServiceError::NotFound { .. })) => {
            new_form(&app, &cookies, &admin, &csrf.0, &fields, Some(&err)).await
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

pub async fn account_get(
    State(app): State<AppState>,
    admin: AdminSession,
    csrf: CsrfToken,
    cookies: Cookies,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
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
    ctx.insert("is_self", &(a.id == admin.current.account.id));
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
    page(&app, &cookies, &admin, "accounts", &csrf.0, "idp/admin/account.html", ctx)
}

pub async fn profile_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    let input = ProfileInput {
        email: fields.get("email").to_owned(),
        display_name: fields.opt("display_name"),
        email_verified: fields.checked("email_verified"),
    };
    match accounts::update_profile(&svc, &account, input).await {
        Ok(a) => Ok(done(&app, &cookies, &back, format!("The profile of {} has been saved.", a.username))),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn roles_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    match roles::set_roles(&svc, &account, &fields.all("roles")).await {
        Ok(()) => Ok(done(&app, &cookies, &back, format!("The roles of {} have been saved.", account.username))),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

async fn set_disabled(
    app: AppState,
    admin: AdminSession,
    cookies: Cookies,
    id: String,
    disabled: bool,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    match accounts::set_disabled(&svc, &account, disabled).await {
        Ok(d) if disabled => Ok(done(
            &app,
            &cookies,
            &back,
            format!(
                "{} is disabled: {} session(s) ended, {} token(s) revoked.",
                account.username, d.sessions_ended, d.tokens_revoked
            ),
        )),
        Ok(_) => Ok(done(&app, &cookies, &back, format!("{} is enabled again.", account.username))),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn disable_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    set_disabled(app, admin, cookies, id, true).await
}

pub async fn enable_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    set_disabled(app, admin, cookies, id, false).await
}

pub async fn password_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    let require = fields.checked("require_change");
    match accounts::set_password(&svc, &account, fields.get("password"), require).await {
        Ok(ended) => Ok(done(
            &app,
            &cookies,
            &back,
            format!("A new password is set for {}; {ended} session(s) ended.", account.username),
        )),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn require_change_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    let required = fields.get("required") != "false";
    match accounts::require_password_change(&svc, &account, required).await {
        Ok(()) if required => Ok(done(
            &app,
            &cookies,
            &back,
            format!("{} must choose a new password at the next sign-in.", account.username),
        )),
        Ok(()) => Ok(done(&app, &cookies, &back, format!("{} no longer needs a new password.", account.username))),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn session_end_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    let Ok(session) = fields.get("session_id").parse::<uuid::Uuid>().map(SessionId) else {
        return Err(PageError::BadRequest("The session to end is missing.".into()));
    };
    match accounts::end_session(&svc, &account, session).await {
        Ok(()) => Ok(done(&app, &cookies, &back, "The session has been ended.")),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn sessions_end_all_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let back = account_path(account.id);
    match accounts::end_all_sessions(&svc, &account).await {
        Ok(n) => Ok(done(&app, &cookies, &back, format!("{n} session(s) of {} ended.", account.username))),
        Err(err) => failed(&app, &cookies, &back, err),
    }
}

pub async fn delete_get(
    State(app): State<AppState>,
    admin: AdminSession,
    csrf: CsrfToken,
    cookies: Cookies,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    let mut ctx = Context::new();
    ctx.insert("page_title", &format!("Delete {}", account.username));
    ctx.insert(
        "message",
        &format!(
            "Delete the account {} ({})? Its sessions, tokens, consents and roles are deleted with it. \
             This cannot be undone.",
            account.username, account.email
        ),
    );
    ctx.insert("action", &format!("{}/delete", account_path(account.id)));
    ctx.insert("button", "Delete the account");
    ctx.insert("cancel", &account_path(account.id));
    page(&app, &cookies, &admin, "accounts", &csrf.0, "idp/admin/confirm.html", ctx)
}

pub async fn delete_post(
    State(app): State<AppState>,
    admin: AdminSession,
    cookies: Cookies,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = admin.ctx(&app);
    let account = load(&svc, &id).await?;
    match accounts::delete(&svc, &account).await {
        Ok(()) => {
            Ok(done(&app, &cookies, paths::ACCOUNTS, format!("The account {} has been deleted.", account.username)))
        }
        Err(err) => failed(&app, &cookies, &account_path(account.id), err),
    }
}
