//! `GET/POST /login`: sign in with a username or email and a password.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect, Response};
use latchkey_core::model::AccountId;
use latchkey_core::password::{PasswordPolicy, normalize_password};
use latchkey_core::secret::Secret;
use latchkey_core::session::safe_return_to;
use latchkey_core::throttle::{human_wait, retry_after_secs};
use serde::Deserialize;
use tera::Context;
use tower_cookies::Cookies;

use crate::auth::{self, FieldErrors, KnownDevice, LOGIN_MAX, RequestMeta, SignInError, SignedIn};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, OptionalSession, PageQuery, password_change_location};
use crate::http::flash::{self, Flash, FlashView};
use crate::http::page::{no_store, render};
use crate::http::session::{CookieSettings, session_policy};
use crate::state::AppState;

/// The one message for every failed sign-in: unknown user, wrong password, disabled account.
pub const INVALID_CREDENTIALS: &str = "Incorrect username or password.";

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub return_to: Option<String>,
    /// OpenID Connect Core §3.1.2.1: pre-fills the identifier.
    pub login_hint: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub login: String,
    pub password: String,
    /// A checkbox: present (`on`) only when ticked.
    pub remember_me: Option<String>,
    pub return_to: Option<String>,
}

struct LoginView<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    /// Client redirect URIs the form may end at (an authorization request being resumed).
    form_targets: &'a [String],
    login: &'a str,
    remember_me: bool,
    errors: FieldErrors,
    flash: Option<FlashView>,
    form_error: Option<String>,
}

fn render_login(app: &AppState, status: StatusCode, view: LoginView<'_>) -> Result<Response, PageError> {
    let mut ctx = Context::new();
    ctx.insert("csrf_token", view.csrf_token);
    ctx.insert("return_to", view.return_to);
    ctx.insert("login", view.login);
    ctx.insert("remember_me", &view.remember_me);
    ctx.insert("focus_login", &view.login.is_empty());
    ctx.insert("focus_password", &!view.login.is_empty());
    ctx.insert("errors", &view.errors);
    ctx.insert("flash", &view.flash);
    ctx.insert("form_error", &view.form_error);
    let mut response = render(app, status, "idp/login.html", &ctx)?;
    crate::http::page::allow_form_redirects(&mut response, view.form_targets);
    Ok(response)
}

pub async fn login_get(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
    PageQuery(query): PageQuery<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let form_targets = crate::http::page::authorize_redirect_targets(&app, &return_to).await;
    let hint: String = query.login_hint.unwrap_or_default().trim().chars().take(LOGIN_MAX).collect();
    let flash = flash::take(&app, &cookies).or_else(|| session.expired.then(|| Flash::SessionExpired.view()));
    render_login(
        &app,
        StatusCode::OK,
        LoginView {
            csrf_token: &csrf,
            return_to: &return_to,
            form_targets: &form_targets,
            login: &hint,
            remember_me: false,
            errors: FieldErrors::new(),
            flash,
            form_error: None,
        },
    )
}

/// Checks the fields' shape before anything is looked up. Independent of any account, so these
/// messages reveal nothing.
fn check_fields(form: &LoginForm) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let login = form.login.trim();
    if login.is_empty() {
        errors.insert("login", "Enter your username or email address.".into());
    } else if login.chars().count() > LOGIN_MAX {
        errors.insert(
            "login",
            format!("That is longer than any username or email address (at most {LOGIN_MAX} characters)."),
        );
    }
    let (_, max) = PasswordPolicy::default().effective_bounds();
    if form.password.is_empty() {
        errors.insert("password", "Enter your password.".into());
    } else if normalize_password(&form.password).chars().count() > max {
        // Counted in NFKC, the form sign-up checks and hashes: a password accepted at sign-up is
        // never too long here because the browser sent it decomposed.
        errors.insert("password", format!("Passwords are at most {max} characters."));
    }
    errors
}

pub async fn login_post(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfToken(csrf): CsrfToken,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(form.return_to.as_deref());
    let form_targets = crate::http::page::authorize_redirect_targets(&app, &return_to).await;
    let remember_me = form.remember_me.is_some();
    let login: String = form.login.trim().chars().take(LOGIN_MAX).collect();
    let view = |errors, form_error| LoginView {
        csrf_token: &csrf,
        return_to: &return_to,
        form_targets: &form_targets,
        login: &login,
        remember_me,
        errors,
        flash: None,
        form_error,
    };
    let errors = check_fields(&form);
    if !errors.is_empty() {
        return render_login(&app, StatusCode::BAD_REQUEST, view(errors, None));
    }
    let device = known_device(&app, &cookies);
    match auth::sign_in(&app, &login, &form.password, remember_me, &meta, device.as_ref()).await {
        Ok(signed_in) => {
            if let Some(previous) = session.current {
                // Someone else (or the same person) was signed in in this browser: that session ends.
                auth::end_session(&app, &previous.session, "session.replaced", &meta, serde_json::json!({})).await;
            }
            // An administrator required a new password: the correct old one signs in, but only
            // to the password page (the account console's), which clears the requirement and then
            // goes on to where the person was going (an authorization request, a page).
            let return_to = if signed_in.account.password_change_required {
                let asked = form.return_to.as_deref().is_some_and(|r| !r.is_empty());
                password_change_location(asked.then_some(return_to.as_str()))
            } else {
                return_to
            };
            Ok(complete_sign_in(&app, &cookies, &signed_in, remember_me, Flash::SignedIn, &return_to))
        }
        Err(SignInError::Invalid) => {
            render_login(&app, StatusCode::OK, view(FieldErrors::new(), Some(INVALID_CREDENTIALS.into())))
        }
        Err(SignInError::Throttled { retry_after }) => {
            let message = format!(
                "Too many sign-in attempts. Please wait {} and try again. If you forgot your password, ask your \
                 administrator to reset it.",
                human_wait(retry_after)
            );
            let mut response =
                render_login(&app, StatusCode::TOO_MANY_REQUESTS, view(FieldErrors::new(), Some(message)))?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(retry_after)));
            Ok(response)
        }
        Err(SignInError::Busy) => Err(PageError::Unavailable { retry_after_secs: 2 }),
        Err(SignInError::Store(err)) => Err(err.into()),
        Err(SignInError::Internal(detail)) => Err(PageError::Internal(detail)),
    }
}

/// Hands the new session to the browser and sends it on. The cookie is replaced, never reused, so a
/// cookie planted before sign-in is worthless afterwards (no session fixation).
pub fn complete_sign_in(
    app: &AppState,
    cookies: &Cookies,
    signed_in: &SignedIn,
    remember_me: bool,
    message: Flash,
    return_to: &str,
) -> Response {
    let settings = CookieSettings::new(&app.config);
    let max_age = session_policy(&app.config.session).cookie_max_age(remember_me);
    cookies.add(settings.cookie(settings.session_name(), signed_in.secret.expose().to_owned(), max_age));
    remember_device(app, cookies, signed_in.account.id);
    flash::set(app, cookies, message);
    let mut response = Redirect::to(return_to).into_response();
    no_store(&mut response);
    response
}

/// How long a browser stays a known device of the account it last signed in to.
const DEVICE_LIFETIME_DAYS: i64 = 180;

/// The known-device cookie this browser sent, if it is one we signed: `<account id>.<nonce>`.
pub fn known_device(app: &AppState, cookies: &Cookies) -> Option<KnownDevice> {
    let name = CookieSettings::new(&app.config).device_name();
    cookies.get(name)?;
    let cookie = cookies.signed(app.secrets.cookie_key()).get(name)?;
    let (account, nonce) = cookie.value().split_once('.')?;
    let account = AccountId(account.parse().ok()?);
    let plausible =
        (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then(|| KnownDevice { account, nonce: nonce.to_owned() })
}

/// Marks this browser as a known device of `account`, with a fresh nonce (a fresh counter).
fn remember_device(app: &AppState, cookies: &Cookies, account: AccountId) {
    let settings = CookieSettings::new(&app.config);
    let nonce = Secret::generate();
    let value = format!("{}.{}", account.0, nonce.expose());
    let cookie = settings.cookie(settings.device_name(), value, Some(chrono::Duration::days(DEVICE_LIFETIME_DAYS)));
    cookies.signed(app.secrets.cookie_key()).add(cookie);
}
