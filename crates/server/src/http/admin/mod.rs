//! The admin console (`/admin`, server-rendered pages) and the admin API (`/admin/api/v1`, JSON,
//! with its OpenAPI document), plus the first-administrator setup page (`/setup`).
//!
//! Every handler takes [`guard::AdminSession`] (console pages, through [`Console`]) or
//! [`guard::AdminBearer`] (the API), which check the `admin` role (and, for the API, the
//! `latchkey:admin` scope) on every request; every operation is one call into [`crate::service`],
//! which holds the rules and writes the audit log. Destructive console actions are asked about on
//! a GET confirmation page ([`Confirm`]) before their form posts to the same path.

pub mod api;
pub mod api_error;
pub mod console_accounts;
pub mod console_clients;
pub mod console_misc;
pub mod flash;
pub mod guard;
pub mod setup;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tera::Context;
use tower_cookies::Cookies;

use crate::http::error::PageError;
use crate::http::extract::CsrfToken;
use crate::http::page::render;
use crate::service::{Ctx, ServiceError};
use crate::state::AppState;

/// The console's paths, kept beside the router that serves them (the API's are in [`api::routes`]).
pub mod paths {
    pub const ADMIN: &str = "/admin";
    pub const ACCOUNTS: &str = "/admin/accounts";
    pub const ACCOUNTS_NEW: &str = "/admin/accounts/new";
    pub const ACCOUNT: &str = "/admin/accounts/{id}";
    pub const ACCOUNT_PROFILE: &str = "/admin/accounts/{id}/profile";
    pub const ACCOUNT_ROLES: &str = "/admin/accounts/{id}/roles";
    pub const ACCOUNT_DISABLE: &str = "/admin/accounts/{id}/disable";
    pub const ACCOUNT_ENABLE: &str = "/admin/accounts/{id}/enable";
    pub const ACCOUNT_PASSWORD: &str = "/admin/accounts/{id}/password";
    pub const ACCOUNT_REQUIRE_CHANGE: &str = "/admin/accounts/{id}/require-password-change";
    pub const ACCOUNT_SESSION_END: &str = "/admin/accounts/{id}/sessions/end";
    pub const ACCOUNT_SESSIONS_END_ALL: &str = "/admin/accounts/{id}/sessions/end-all";
    pub const ACCOUNT_DELETE: &str = "/admin/accounts/{id}/delete";
    pub const CLIENTS: &str = "/admin/clients";
    pub const CLIENTS_NEW: &str = "/admin/clients/new";
    pub const CLIENT: &str = "/admin/clients/{id}";
    pub const CLIENT_SECRET: &str = "/admin/clients/{id}/secret";
    pub const CLIENT_DELETE: &str = "/admin/clients/{id}/delete";
    pub const ROLES: &str = "/admin/roles";
    pub const ROLE_DELETE: &str = "/admin/roles/{name}/delete";
    pub const KEYS: &str = "/admin/keys";
    pub const KEYS_ROTATE: &str = "/admin/keys/rotate";
    pub const AUDIT: &str = "/admin/audit";
    pub const API_PREFIX: &str = "/admin/api/v1";
    pub const OPENAPI: &str = "/admin/api/openapi.json";
    pub const SETUP: &str = "/setup";
}

/// Every admin and setup route. Listed here (and merged by `app::router`) so the permission test
/// can walk the same list.
pub fn routes() -> Router<AppState> {
    use console_accounts as acc;
    use console_clients as cl;
    use console_misc as misc;
    Router::new()
        .route(paths::ADMIN, get(misc::overview_get))
        .route(paths::ACCOUNTS, get(acc::accounts_get).post(acc::accounts_post))
        .route(paths::ACCOUNTS_NEW, get(acc::account_new_get))
        .route(paths::ACCOUNT, get(acc::account_get))
        .route(paths::ACCOUNT_PROFILE, post(acc::profile_post))
        .route(paths::ACCOUNT_ROLES, post(acc::roles_post))
        .route(paths::ACCOUNT_DISABLE, get(acc::disable_get).post(acc::disable_post))
        .route(paths::ACCOUNT_ENABLE, post(acc::enable_post))
        .route(paths::ACCOUNT_PASSWORD, get(acc::password_get).post(acc::password_post))
        .route(paths::ACCOUNT_REQUIRE_CHANGE, post(acc::require_change_post))
        .route(paths::ACCOUNT_SESSION_END, get(acc::session_end_get).post(acc::session_end_post))
        .route(paths::ACCOUNT_SESSIONS_END_ALL, get(acc::sessions_end_all_get).post(acc::sessions_end_all_post))
        .route(paths::ACCOUNT_DELETE, get(acc::delete_get).post(acc::delete_post))
        .route(paths::CLIENTS, get(cl::clients_get).post(cl::clients_post))
        .route(paths::CLIENTS_NEW, get(cl::client_new_get))
        .route(paths::CLIENT, get(cl::client_get).post(cl::client_post))
        .route(paths::CLIENT_SECRET, get(cl::secret_get).post(cl::secret_post))
        .route(paths::CLIENT_DELETE, get(cl::delete_get).post(cl::delete_post))
        .route(paths::ROLES, get(misc::roles_get).post(misc::roles_post))
        .route(paths::ROLE_DELETE, get(misc::role_delete_get).post(misc::role_delete_post))
        .route(paths::KEYS, get(misc::keys_get))
        .route(paths::KEYS_ROTATE, get(misc::rotate_get).post(misc::rotate_post))
        .route(paths::AUDIT, get(misc::audit_get))
        .route(paths::SETUP, get(setup::setup_get).post(setup::setup_post))
        .merge(api::routes())
}

/// A form's fields as submitted, in order. Read as pairs because a form may repeat a name
/// (role and grant checkboxes), which struct deserialization cannot take.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }

    /// One value per line (textareas of URIs), blank lines dropped.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }
}

/// What every console handler starts from: the state, the signed-in administrator and the cookies
/// (the CSRF cookie and the one-time messages). Taking it is what checks the `admin` role, through
/// [`guard::AdminSession`]; its methods are the console's few ways to answer.
pub struct Console {
    pub app: AppState,
    pub admin: guard::AdminSession,
    pub cookies: Cookies,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let admin = guard::AdminSession::from_request_parts(parts, app).await?;
        let cookies = Cookies::from_request_parts(parts, app).await.map_err(IntoResponse::into_response)?;
        Ok(Self { app: app.clone(), admin, cookies })
    }
}

impl Console {
    /// The service context: the acting administrator, `via: console`, the request's address.
    pub fn svc(&self) -> Ctx<'_> {
        self.admin.ctx(&self.app)
    }

    /// Renders an admin page: the layout needs the acting administrator's name, the section for
    /// the navigation, the CSRF token and the pending message.
    pub fn page(
        &self,
        csrf: &CsrfToken,
        section: &str,
        template: &str,
        mut ctx: Context,
    ) -> Result<Response, PageError> {
        ctx.insert("section", section);
        ctx.insert("admin_username", &self.admin.current.account.username);
        ctx.insert("csrf_token", &csrf.0);
        if !ctx.contains_key("flash") {
            ctx.insert("flash", &flash::take(&self.app, &self.cookies));
        }
        render(&self.app, StatusCode::OK, template, &ctx)
    }

    /// Asks before a destructive change (`confirm.html`): nothing changes until its form is posted.
    pub fn confirm(&self, csrf: &CsrfToken, section: &str, what: &Confirm) -> Result<Response, PageError> {
        self.page(csrf, section, "idp/admin/confirm.html", what.context()?)
    }

    /// Redirects after a change, with its message for the next page.
    pub fn done(&self, to: &str, text: impl Into<String>) -> Response {
        flash::set(&self.app, &self.cookies, flash::AdminFlash::success(text));
        see_other(to)
    }

    /// Redirects back after a refused change, with the reason; a failure of the server itself
    /// is an error page instead.
    pub fn failed(&self, to: &str, err: ServiceError) -> Result<Response, PageError> {
        match err {
            ServiceError::Internal(detail) => Err(PageError::Internal(detail)),
            ServiceError::Unavailable => Err(PageError::Unavailable { retry_after_secs: 5 }),
            other => {
                flash::set(&self.app, &self.cookies, flash::AdminFlash::error(sentence(&other)));
                Ok(see_other(to))
            }
        }
    }

    /// [`Self::done`] with `message(value)` on success, [`Self::failed`] otherwise: the end of
    /// most console form posts.
    pub fn outcome<T>(
        &self,
        to: &str,
        result: Result<T, ServiceError>,
        message: impl FnOnce(T) -> String,
    ) -> Result<Response, PageError> {
        match result {
            Ok(value) => Ok(self.done(to, message(value))),
            Err(err) => self.failed(to, err),
        }
    }
}

/// What a confirmation page (`confirm.html`) asks: its title, what will happen in plain words, the
/// form's action and button (and hidden fields it must carry), and where Cancel goes back to.
#[derive(Debug, Serialize)]
pub struct Confirm {
    pub page_title: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub cancel: String,
    pub hidden: Vec<Hidden>,
}

/// A hidden field of a confirmation form.
#[derive(Debug, Serialize)]
pub struct Hidden {
    pub name: &'static str,
    pub value: String,
}

impl Confirm {
    pub fn new(page_title: String, message: String, action: String, button: &'static str, cancel: String) -> Self {
        Self { page_title, message, action, button, cancel, hidden: Vec::new() }
    }

    pub fn context(&self) -> Result<Context, PageError> {
        Context::from_serialize(self).map_err(PageError::internal)
    }
}

/// 303: after a POST the browser fetches the next page with GET.
pub fn see_other(to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    crate::http::page::no_store(&mut response);
    response
}

/// A service message as a sentence for the pages.
pub fn sentence(err: &ServiceError) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The pager under a list.
#[derive(Debug, Clone, Serialize)]
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub first: u64,
    pub last: u64,
    pub prev: Option<u64>,
    pub next: Option<u64>,
}

impl Pager {
    pub fn new(page: u64, per_page: u64, total: u64, shown: usize) -> Self {
        let pages = total.div_ceil(per_page.max(1)).max(1);
        let first = if shown == 0 { 0 } else { (page - 1) * per_page + 1 };
        Self {
            page,
            pages,
            total,
            first,
            last: first + (shown as u64).saturating_sub(1),
            prev: (page > 1).then(|| page - 1),
            next: (page < pages).then(|| page + 1),
        }
    }
}

/// A 1-based page number from the query, and its offset.
pub fn page_offset(page: Option<u64>, per_page: u64) -> (u64, u64) {
    let page = page.unwrap_or(1).max(1);
    (page, (page - 1).saturating_mul(per_page))
}

/// Dates as the pages show them.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
