//! `GET/POST /account/password`: a new password, given the current one.
//!
//! The new password meets the sign-up policy, with the sign-up page's messages. The session in use
//! stays; "Sign out all other sessions" ends the others (the usual reason to change a password is
//! that someone else may know it). When an administrator required a change at next sign-in, sign-in
//! leads here, and a successful change lifts the requirement. Until then this is the only page the
//! person can use (with sign-out): every other page redirects here (see `CurrentSession`), carrying
//! where they were going in `return_to`, which a successful change follows (validated again).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::model::{Account, AuditOutcome};
use latchkey_core::password::{PasswordPolicy, PasswordProblem};
use latchkey_core::session::safe_return_to;
use latchkey_core::store::{AccountStore as _, SessionStore as _};
use serde::Deserialize;
use tower_cookies::Cookies;

use super::reauth::{self, Reauth};
use super::{audit_own, console_context, done};
use crate::auth::{FieldErrors, RequestMeta, sentence};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, CurrentSession, PageQuery, PasswordChangeSession};
use crate::http::flash::{self, Flash, FlashView};
use crate::http::page::render;
use crate::http::paths;
use crate::state::AppState;

/// The sign-up page's message for two different passwords.
pub const MISMATCH: &str = "The two passwords do not match; type the same password twice.";

#[derive(Debug, Default, Deserialize)]
pub struct PasswordQuery {
    /// Where to go once the password is changed (a required change interrupted a sign-in).
    pub return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    pub current_password: String,
    pub new_password: String,
    pub new_password_confirm: String,
    /// A checkbox: present (`on`) only when ticked.
    pub sign_out_others: Option<String>,
    pub return_to: Option<String>,
}

struct PasswordView<'a> {
    return_to: Option<&'a str>,
    /// Client redirect URIs the form may end at (an authorization request being resumed).
    form_targets: &'a [String],
    sign_out_others: bool,
    errors: FieldErrors,
    flash: Option<FlashView>,
    form_error: Option<String>,
}

fn policy(app: &AppState) -> PasswordPolicy {
    PasswordPolicy { min_length: app.config.passwords.min_length, ..PasswordPolicy::default() }
}

fn render_password(
    app: &AppState,
    current: &CurrentSession,
    csrf: &str,
    status: StatusCode,
    view: PasswordView<'_>,
) -> Result<Response, PageError> {
    let mut ctx = console_context(current, "password", view.flash);
    let (min, _) = policy(app).effective_bounds();
    ctx.insert("csrf_token", csrf);
    ctx.insert("return_to", &view.return_to.unwrap_or_default());
    ctx.insert("sign_out_others", &view.sign_out_others);
    ctx.insert("errors", &view.errors);
    ctx.insert("form_error", &view.form_error);
    ctx.insert("change_required", &current.account.password_change_required);
    ctx.insert(
        "password_hint",
        &format!("At least {min} characters. A few unrelated words make a strong password that is easy to remember."),
    );
    let mut response = render(app, status, "idp/account/password.html", &ctx)?;
    // A successful change may resume an authorization request, which redirects to the client: the
    // page's form-action must allow that origin, as the sign-in page's does.
    crate::http::page::allow_form_redirects(&mut response, view.form_targets);
    Ok(response)
}

/// Only a local path is ever followed (no open redirect); none means "back to this page".
fn return_to(raw: Option<&str>) -> Option<String> {
    raw.filter(|r| !r.is_empty()).map(|r| safe_return_to(Some(r)))
}

async fn targets(app: &AppState, return_to: Option<&str>) -> Vec<String> {
    match return_to {
        Some(back) => crate::http::page::authorize_redirect_targets(app, back).await,
        None => Vec::new(),
    }
}

pub async fn password_get(
    State(app): State<AppState>,
    PasswordChangeSession(current): PasswordChangeSession,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
    PageQuery(query): PageQuery<PasswordQuery>,
) -> Result<Response, PageError> {
    let return_to = return_to(query.return_to.as_deref());
    let form_targets = targets(&app, return_to.as_deref()).await;
    let view = PasswordView {
        return_to: return_to.as_deref(),
        form_targets: &form_targets,
        sign_out_others: false,
        errors: FieldErrors::new(),
        flash: flash::take(&app, &cookies),
        form_error: None,
    };
    render_password(&app, &current, &csrf, StatusCode::OK, view)
}

/// Every problem with the new password at once, in the sign-up page's words.
fn check_new_password(app: &AppState, account: &Account, form: &PasswordForm) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let policy = policy(app);
    let (_, max) = policy.effective_bounds();
    // Bound the work on absurd input before normalising it (as sign-up does).
    if form.new_password.chars().count() > 4 * max {
        errors.insert("new_password", sentence(PasswordProblem::TooLong { max }));
    } else if let Err(problem) = policy.check(&form.new_password, &account.username, &account.email) {
        errors.insert("new_password", problem.to_string());
    }
    if form.new_password_confirm != form.new_password {
        errors.insert("new_password_confirm", MISMATCH.into());
    }
    if form.current_password.is_empty() {
        errors.insert("current_password", "Enter your current password.".into());
    }
    errors
}

pub async fn password_post(
    State(app): State<AppState>,
    PasswordChangeSession(current): PasswordChangeSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfToken(csrf): CsrfToken,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    let account = &current.account;
    let return_to = return_to(form.return_to.as_deref());
    let form_targets = targets(&app, return_to.as_deref()).await;
    let sign_out_others = form.sign_out_others.is_some();
    let reply = |status, errors, form_error| {
        let view = PasswordView {
            return_to: return_to.as_deref(),
            form_targets: &form_targets,
            sign_out_others,
            errors,
            flash: None,
            form_error,
        };
        render_password(&app, &current, &csrf, status, view)
    };

    // The new password is checked first: its problems say nothing about the current one, and a form
    // that cannot succeed costs no hash and no throttle attempt.
    let errors = check_new_password(&app, account, &form);
    if !errors.is_empty() {
        return reply(StatusCode::BAD_REQUEST, errors, Some("Please correct the highlighted fields.".into()));
    }
    match reauth::confirm_password(&app, account, &form.current_password, "password_change", &meta).await? {
        Reauth::Confirmed => {}
        Reauth::Wrong => {
            let mut errors = FieldErrors::new();
            errors.insert("current_password", reauth::WRONG_PASSWORD.into());
            return reply(StatusCode::BAD_REQUEST, errors, None);
        }
        Reauth::Throttled { retry_after } => {
            let message = Reauth::throttled_message(retry_after);
            let page = reply(StatusCode::OK, FieldErrors::new(), Some(message))?;
            return Ok(reauth::with_retry_after(page, retry_after));
        }
    }

    let hash = app.passwords.hash(&form.new_password).await.map_err(reauth::hash_error)?;
    let now = app.clock.now();
    app.store.update_password_hash(account.id, &hash, now).await?;
    if account.password_change_required {
        app.store.set_password_change_required(account.id, false, now).await?;
    }
    let ended =
        if sign_out_others { app.store.delete_sessions_of(account.id, Some(current.session.id)).await? } else { 0 };
    audit_own(
        &app,
        "account.password_changed",
        account.id,
        None,
        AuditOutcome::Success,
        &meta,
        serde_json::json!({
            "sign_out_others": sign_out_others,
            "was_required": account.password_change_required,
        }),
    )
    .await;
    if sign_out_others {
        audit_own(
            &app,
            "session.ended_by_user",
            account.id,
            None,
            AuditOutcome::Success,
            &meta,
            serde_json::json!({ "scope": "others", "reason": "password_changed", "ended": ended }),
        )
        .await;
    }
    let message = if sign_out_others { Flash::PasswordChangedOthersSignedOut } else { Flash::PasswordChanged };
    Ok(done(&app, &cookies, message, return_to.as_deref().unwrap_or(paths::ACCOUNT_PASSWORD)))
}
