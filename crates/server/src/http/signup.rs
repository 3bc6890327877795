//! `GET/POST /signup`: create an account and sign in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::session::safe_return_to;
use serde::Deserialize;
use tera::Context;
use tower_cookies::Cookies;

use crate::auth::{self, FieldErrors, RequestMeta, SignUp, SignUpError};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, OptionalSession, PageQuery};
use crate::http::flash::{self, Flash, FlashView};
use crate::http::login::complete_sign_in;
use crate::http::page::render;
use crate::state::AppState;

/// Said for a taken username and a taken email alike: which one is not revealed.
pub const TAKEN: &str =
    "That username or email cannot be used. Choose another username, or sign in if you already have an account.";

#[derive(Debug, Default, Deserialize)]
pub struct SignupQuery {
    pub return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SignupForm {
    pub username: String,
    pub email: String,
    pub password: String,
    pub password_confirm: String,
    pub return_to: Option<String>,
}

struct SignupView<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    /// Client redirect URIs the form may end at (an authorization request being resumed).
    form_targets: &'a [String],
    username: &'a str,
    email: &'a str,
    errors: FieldErrors,
    flash: Option<FlashView>,
    form_error: Option<String>,
}

fn render_signup(app: &AppState, status: StatusCode, view: SignupView<'_>) -> Result<Response, PageError> {
    let min = latchkey_core::password::PasswordPolicy { min_length: app.config.passwords.min_length, max_length: 256 }
        .effective_bounds()
        .0;
    let mut ctx = Context::new();
    ctx.insert("csrf_token", view.csrf_token);
    ctx.insert("return_to", view.return_to);
    ctx.insert("username", view.username);
    ctx.insert("email", view.email);
    ctx.insert("errors", &view.errors);
    ctx.insert("flash", &view.flash);
    ctx.insert("form_error", &view.form_error);
    ctx.insert(
        "password_hint",
        &format!("At least {min} characters. A few unrelated words make a strong password that is easy to remember."),
    );
    let mut response = render(app, status, "idp/signup.html", &ctx)?;
    crate::http::page::allow_form_redirects(&mut response, view.form_targets);
    Ok(response)
}

pub async fn signup_get(
    State(app): State<AppState>,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
    PageQuery(query): PageQuery<SignupQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let form_targets = crate::http::page::authorize_redirect_targets(&app, &return_to).await;
    render_signup(
        &app,
        StatusCode::OK,
        SignupView {
            csrf_token: &csrf,
            return_to: &return_to,
            form_targets: &form_targets,
            username: "",
            email: "",
            errors: FieldErrors::new(),
            flash: flash::take(&app, &cookies),
            form_error: None,
        },
    )
}

/// Longest value echoed back into the form: enough for any valid input, bounded for junk.
const ECHO_MAX: usize = 254;

pub async fn signup_post(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfToken(csrf): CsrfToken,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(form.return_to.as_deref());
    let form_targets = crate::http::page::authorize_redirect_targets(&app, &return_to).await;
    let username: String = form.username.trim().chars().take(ECHO_MAX).collect();
    let email: String = form.email.trim().chars().take(ECHO_MAX).collect();
    let view = |errors, form_error| SignupView {
        csrf_token: &csrf,
        return_to: &return_to,
        form_targets: &form_targets,
        username: &username,
        email: &email,
        errors,
        flash: None,
        form_error,
    };
    let input = SignUp {
        username: form.username.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        password_confirm: form.password_confirm.clone(),
    };
    match auth::sign_up(&app, &input, &meta).await {
        Ok(signed_in) => {
            if let Some(previous) = session.current {
                auth::end_session(&app, &previous.session, "session.replaced", &meta, serde_json::json!({})).await;
            }
            Ok(complete_sign_in(&app, &cookies, &signed_in, false, Flash::SignedUp, &return_to))
        }
        Err(SignUpError::Invalid(errors)) => {
            let summary = "Please correct the highlighted fields.".to_owned();
            render_signup(&app, StatusCode::BAD_REQUEST, view(errors, Some(summary)))
        }
        Err(SignUpError::Taken) => {
            render_signup(&app, StatusCode::BAD_REQUEST, view(FieldErrors::new(), Some(TAKEN.into())))
        }
        Err(SignUpError::Busy) => Err(PageError::Unavailable { retry_after_secs: 2 }),
        Err(SignUpError::Store(err)) => Err(err.into()),
        Err(SignUpError::Internal(detail)) => Err(PageError::Internal(detail)),
    }
}
