//! `/setup?token=...`: the first-administrator page behind the one-time link `latchkey serve`
//! logs on a database without an administrator. A used, expired or unknown link shows why.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Redirect, Response};
use latchkey_store::SetupTokenState;
use serde::Deserialize;
use tera::Context;
use tower_cookies::Cookies;

use super::Fields;
use super::guard::service_ctx;
use crate::auth::{RequestMeta, start_session};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, PageQuery};
use crate::http::page::{no_store, render};
use crate::http::session::{CookieSettings, session_policy};
use crate::service::accounts::NewAccountInput;
use crate::service::{Actor, ServiceError, setup};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct SetupQuery {
    pub token: Option<String>,
}

fn problem_page(app: &AppState, state: SetupTokenState) -> Result<Response, PageError> {
    let mut ctx = Context::new();
    ctx.insert("problem", &setup::state_problem(state));
    let status = if state == SetupTokenState::Missing { StatusCode::NOT_FOUND } else { StatusCode::GONE };
    render(app, status, "idp/admin/setup.html", &ctx)
}

fn form_page(
    app: &AppState,
    csrf: &str,
    token: &str,
    fields: &Fields,
    errors: &std::collections::BTreeMap<&str, String>,
) -> Result<Response, PageError> {
    let mut ctx = Context::new();
    ctx.insert("problem", &None::<&str>);
    ctx.insert("csrf_token", csrf);
    ctx.insert("token", token);
    ctx.insert("username", fields.get("username"));
    ctx.insert("email", fields.get("email"));
    ctx.insert("errors", errors);
    let hint = format!(
        "At least {} characters; a few unrelated words make a strong password.",
        app.config.passwords.min_length.max(15)
    );
    ctx.insert("password_hint", &hint);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    render(app, status, "idp/admin/setup.html", &ctx)
}

pub async fn setup_get(
    State(app): State<AppState>,
    csrf: CsrfToken,
    meta: RequestMeta,
    PageQuery(query): PageQuery<SetupQuery>,
) -> Result<Response, PageError> {
    let ctx = service_ctx(&app, Actor::Setup, "setup", meta);
    let token = query.token.unwrap_or_default();
    let state = setup::check(&app.store, &token, &ctx).await.map_err(super::console_accounts::page_error)?;
    if state != SetupTokenState::Valid {
        return problem_page(&app, state);
    }
    form_page(&app, &csrf.0, &token, &Fields::default(), &Default::default())
}

pub async fn setup_post(
    State(app): State<AppState>,
    csrf: CsrfToken,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let ctx = service_ctx(&app, Actor::Setup, "setup", meta.clone());
    let token = fields.get("token").to_owned();
    let mut errors = std::collections::BTreeMap::new();
    if fields.get("password") != fields.get("password_confirm") {
        errors.insert("password_confirm", "The two passwords do not match; type the same password twice.".into());
        return form_page(&app, &csrf.0, &token, &fields, &errors);
    }
    let input = NewAccountInput {
        username: fields.get("username").to_owned(),
        email: fields.get("email").to_owned(),
        password: fields.get("password").to_owned(),
        ..NewAccountInput::default()
    };
    let account = match setup::complete(&ctx, &app.store, &token, input).await {
        Ok(Ok(account)) => account,
        Ok(Err(state)) => return problem_page(&app, state),
        Err(err @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            errors.insert(err.field().unwrap_or("username"), super::sentence(&err));
            return form_page(&app, &csrf.0, &token, &fields, &errors);
        }
        Err(err) => return Err(super::console_accounts::page_error(err)),
    };
    let (session, secret) = start_session(&app, &account, false, &meta, app.clock.now()).await?;
    crate::auth::audit(
        &app,
        "login.success",
        Some(account.id),
        latchkey_core::model::AuditOutcome::Success,
        &meta,
        serde_json::json!({"via": "setup", "session_id": session.id}),
    )
    .await;
    let settings = CookieSettings::new(&app.config);
    let max_age = session_policy(&app.config.session).cookie_max_age(false);
    cookies.add(settings.cookie(settings.session_name(), secret.expose().to_owned(), max_age));
    super::flash::set(
        &app,
        &cookies,
        super::flash::AdminFlash::success(format!(
            "Welcome, {}: your administrator account is ready.",
            account.username
        )),
    );
    let mut response = Redirect::to(super::paths::ADMIN).into_response();
    no_store(&mut response);
    Ok(response)
}

/// At start-up: on a database where no account has the `admin` role, logs a fresh one-time setup
/// link. The token is in the log line only (stored hashed), so whoever can read the server's log
/// (its operator) can create the first administrator; a failure here never stops the server.
pub async fn announce_setup_link(app: &AppState) {
    let ctx = service_ctx(app, Actor::Setup, "setup", RequestMeta::default());
    match setup::issue_link_if_needed(&ctx, &app.store, &app.oidc.issuer).await {
        Ok(Some(link)) => tracing::warn!(
            "no administrator exists yet: open {link} within an hour to create one (single use), or run \
             `latchkey users add NAME --email ADDRESS --role admin`"
        ),
        Ok(None) => {}
        Err(err) => tracing::error!(error = %err, "could not issue the first-administrator setup link"),
    }
}
