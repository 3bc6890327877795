//! The handlers: one function per route. Each failure a person can run into becomes a page that
//! says what happened and offers a way on; none of them is a 500.

use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use openidconnect::CsrfToken;
use serde::{Deserialize, Serialize};
use tera::Context;
use tower_cookies::Cookies;

use crate::AppState;
use crate::cookies::{self, Jar, constant_time_eq};
use crate::oidc::LoginError;
use crate::session::{LOGIN_TTL, Lookup};
use crate::templates::STYLESHEET;

/// Where a sign-in returns when it was not started from a particular page.
const DEFAULT_RETURN_TO: &str = "/protected";

fn jar<'a>(app: &'a AppState, cookies: &Cookies) -> Jar<'a> {
    Jar::new(cookies, &app.cookie_key, app.config.https())
}

/// The messages `/` can show, chosen by a fixed key in the query: nothing from the URL is shown
/// as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKey {
    SigninRequired,
    Expired,
    SignedOut,
    SignedOutLocally,
}

#[derive(Debug, Serialize)]
struct Notice {
    kind: &'static str,
    text: String,
}

fn notice(key: NoticeKey, app: &AppState) -> Notice {
    let (kind, text) = match key {
        NoticeKey::SigninRequired => ("info", "Please sign in to see that page.".to_owned()),
        NoticeKey::Expired => (
            "warning",
            format!(
                "Your session expired after {} without activity. Please sign in again.",
                humantime::format_duration(app.sessions.idle_timeout())
            ),
        ),
        NoticeKey::SignedOut => ("success", "You have been signed out.".to_owned()),
        NoticeKey::SignedOutLocally => (
            "warning",
            "You have been signed out of this app. Latchkey could not be reached, so you may still be \
             signed in there."
                .to_owned(),
        ),
    };
    Notice { kind, text }
}

/// A local page to go back to after signing in, or `None` when `value` could lead elsewhere.
/// Only absolute paths on this host: no scheme, no `//host` (protocol-relative), no backslash
/// (browsers read `/\host` as `//host`), no control characters.
pub fn safe_return_to(value: &str) -> Option<String> {
    let ok = value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && !value.chars().any(char::is_control)
        && value.len() <= 512;
    ok.then(|| value.to_owned())
}

/// An HTML page that must not be cached (it may show personal data).
fn page(app: &AppState, status: StatusCode, template: &str, ctx: &Context) -> Response {
    match app.templates.render(template, ctx) {
        Ok(html) => (status, no_store(), Html(html)).into_response(),
        Err(err) => {
            // Templates are parsed at start-up; a render error is a bug in a template variable.
            tracing::error!(error = ?err, template, "page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, no_store(), "The page could not be shown.").into_response()
        }
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// The error page, with a "Try again" button that starts a new sign-in.
fn error_page(
    app: &AppState,
    jar: &Jar<'_>,
    status: StatusCode,
    title: &str,
    message: &str,
    detail: Option<String>,
    return_to: &str,
) -> Response {
    let mut ctx = Context::new();
    ctx.insert("status", &status.as_u16());
    ctx.insert("title", title);
    ctx.insert("message", message);
    ctx.insert("detail", &detail);
    ctx.insert("try_again", &true);
    ctx.insert("csrf_token", &jar.csrf_token());
    ctx.insert("return_to", return_to);
    page(app, status, "demo-rp/error.html", &ctx)
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    notice: Option<NoticeKey>,
    return_to: Option<String>,
    /// The `state` the provider echoes when it sends the person back after signing out.
    state: Option<String>,
}

/// `GET /`: what the demo is and a sign-in button, or a greeting for a signed-in person.
pub async fn index_get(
    State(app): State<AppState>,
    cookies: Cookies,
    query: Result<Query<IndexQuery>, QueryRejection>,
) -> Response {
    let jar = jar(&app, &cookies);
    // A query that does not parse (an unknown `notice`, say) is ignored: the page still shows.
    let query = query.ok().map(|Query(q)| q);
    let mut notice_key = query.as_ref().and_then(|q| q.notice);
    let return_to = query.as_ref().and_then(|q| q.return_to.as_deref()).and_then(safe_return_to);

    // Back from the provider's end-session endpoint: only a `state` we sent proves it is ours.
    let echoed = query.as_ref().and_then(|q| q.state.as_deref());
    if let (Some(sent), Some(got)) = (jar.get(cookies::LOGOUT), echoed)
        && constant_time_eq(&sent, got)
    {
        notice_key = Some(NoticeKey::SignedOut);
        jar.remove(cookies::LOGOUT);
    }

    let mut ctx = Context::new();
    let user = match jar.get(cookies::SESSION) {
        None => None,
        Some(id) => match app.sessions.peek(&id, app.clock.now()) {
            Lookup::Active(session) => Some(session.user),
            Lookup::Expired => {
                jar.remove(cookies::SESSION);
                notice_key = notice_key.or(Some(NoticeKey::Expired));
                None
            }
            Lookup::Missing => {
                jar.remove(cookies::SESSION);
                None
            }
        },
    };
    ctx.insert("user", &user);
    ctx.insert("notice", &notice_key.map(|k| notice(k, &app)));
    ctx.insert("csrf_token", &jar.csrf_token());
    ctx.insert("return_to", return_to.as_deref().unwrap_or(DEFAULT_RETURN_TO));
    ctx.insert("issuer", app.provider.issuer());
    ctx.insert("provider_ready", &app.provider.is_discovered());
    page(&app, StatusCode::OK, "demo-rp/index.html", &ctx)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    return_to: Option<String>,
}

/// `POST /login`: starts the authorization code flow and sends the browser to the provider.
pub async fn login_post(State(app): State<AppState>, cookies: Cookies, Form(form): Form<LoginForm>) -> Response {
    let jar = jar(&app, &cookies);
    let return_to = form.return_to.as_deref().and_then(safe_return_to).unwrap_or_else(|| DEFAULT_RETURN_TO.into());
    if !jar.csrf_ok(&form.csrf_token) {
        return form_expired(&app, &jar, &return_to);
    }
    let (url, login) = match app.provider.begin_login(return_to.clone()).await {
        Ok(started) => started,
        Err(err) => return login_failed(&app, &jar, &err, &return_to),
    };
    match app.sessions.begin_login(login, app.clock.now()) {
        Ok(login_id) => {
            jar.set(cookies::LOGIN, login_id, Some(LOGIN_TTL));
            Redirect::to(url.as_str()).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "refusing a sign-in");
            error_page(
                &app,
                &jar,
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins right now",
                "This app is handling too many sign-ins at once. Please try again in a few minutes.",
                None,
                &return_to,
            )
        }
    }
}

fn form_expired(app: &AppState, jar: &Jar<'_>, return_to: &str) -> Response {
    error_page(
        app,
        jar,
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this app in this browser, or it is too old. Nothing was done; \
         please try again.",
        None,
        return_to,
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: the issuer that sent this response.
    iss: Option<String>,
}

/// `GET /callback`: the provider sends the browser back here with a code (or an error).
pub async fn callback_get(
    State(app): State<AppState>,
    cookies: Cookies,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let jar = jar(&app, &cookies);
    // A malformed query (a repeated parameter, say) is treated like an empty one: no state.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    // Whatever happens next, this sign-in attempt is used up.
    let login = jar.get(cookies::LOGIN).and_then(|id| app.sessions.take_login(&id, app.clock.now()));
    jar.remove(cookies::LOGIN);
    let return_to = login.as_ref().map_or_else(|| DEFAULT_RETURN_TO.to_owned(), |l| l.return_to.clone());
    let fail = |status, title: &str, message: &str, detail: Option<String>| {
        error_page(&app, &jar, status, title, message, detail, &return_to)
    };

    // RFC 6749 §10.12: the response must carry the `state` this browser was given, or it may be
    // an attacker's code (login CSRF).
    let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Sign-in response without state",
            "The response from the sign-in page did not include the state value this app sent, so \
             it cannot be trusted. Nothing was done.",
            None,
        );
    };
    let Some(login) = login else {
        return fail(
            StatusCode::BAD_REQUEST,
            "No sign-in in progress",
            "This browser has no sign-in in progress: it may have taken longer than 10 minutes, or \
             already been completed, or have been started in another browser.",
            None,
        );
    };
    if !constant_time_eq(login.state.secret(), state) {
        return fail(
            StatusCode::BAD_REQUEST,
            "Sign-in response does not match",
            "The state value in the response is not the one this app sent, so the response may not \
             be meant for you. Nothing was done.",
            None,
        );
    }
    // RFC 9207 §2.4: when the provider names itself, it must be the one we sent the person to.
    if let Some(iss) = query.iss.as_deref()
        && iss != app.provider.issuer()
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "Sign-in response from the wrong provider",
            "The response names a different identity provider than the one this app uses.",
            None,
        );
    }

    if let Some(error) = query.error.as_deref() {
        // The provider's words are shown as text (escaped by the template), never as HTML.
        let detail = Some(match query.error_description.as_deref() {
            Some(description) => format!("Latchkey said: {error}: {description}"),
            None => format!("Latchkey said: {error}"),
        });
        return if error == "access_denied" {
            fail(
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                "You did not allow this app to use your Latchkey account, so you are not signed in. \
                 You can try again at any time.",
                detail,
            )
        } else {
            fail(StatusCode::BAD_REQUEST, "Sign-in failed", "Latchkey could not sign you in to this app.", detail)
        };
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Sign-in response without a code",
            "The response from Latchkey had neither a code nor an error.",
            None,
        );
    };

    match app.provider.finish_login(login, code).await {
        Ok((user, id_token)) => {
            // A fresh session id on every sign-in; an older session in this browser ends.
            if let Some(old) = jar.get(cookies::SESSION) {
                app.sessions.end(&old);
            }
            tracing::info!(subject = %user.subject, "signed in");
            let id = app.sessions.create(user, id_token, app.clock.now());
            jar.set(cookies::SESSION, id, None);
            Redirect::to(&return_to).into_response()
        }
        Err(err) => login_failed(&app, &jar, &err, &return_to),
    }
}

/// The page for a failed exchange with the provider; the details go to the log only.
fn login_failed(app: &AppState, jar: &Jar<'_>, err: &LoginError, return_to: &str) -> Response {
    tracing::warn!(error = %err, "sign-in failed");
    let (status, title, message, detail) = match err {
        LoginError::Unreachable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Latchkey is not reachable",
            "This app could not reach Latchkey to complete the sign-in. It may be down or restarting; \
             please try again in a moment.",
            None,
        ),
        LoginError::Refused { error, description } => (
            StatusCode::BAD_GATEWAY,
            "Latchkey did not accept the sign-in",
            "Latchkey refused to complete the sign-in (the code may have expired or been used already).",
            Some(match description {
                Some(d) => format!("Latchkey said: {error}: {d}"),
                None => format!("Latchkey said: {error}"),
            }),
        ),
        LoginError::BadResponse { .. } => (
            StatusCode::BAD_GATEWAY,
            "Unexpected answer from Latchkey",
            "Latchkey's answer could not be understood, so you are not signed in.",
            None,
        ),
        LoginError::InvalidIdToken { .. } => (
            StatusCode::BAD_GATEWAY,
            "Sign-in could not be verified",
            "The identity token from Latchkey did not pass this app's checks (signature, issuer, \
             audience, expiry or nonce), so you are not signed in.",
            None,
        ),
    };
    error_page(app, jar, status, title, message, detail, return_to)
}

/// `GET /protected`: only for a signed-in person; each visit slides the session.
pub async fn protected_get(State(app): State<AppState>, cookies: Cookies) -> Response {
    let jar = jar(&app, &cookies);
    let back = |key: &str| Redirect::to(&format!("/?notice={key}&return_to=%2Fprotected")).into_response();
    let Some(id) = jar.get(cookies::SESSION) else { return back("signin_required") };
    let session = match app.sessions.touch(&id, app.clock.now()) {
        Lookup::Active(session) => session,
        Lookup::Expired => {
            jar.remove(cookies::SESSION);
            return back("expired");
        }
        Lookup::Missing => {
            jar.remove(cookies::SESSION);
            return back("signin_required");
        }
    };
    let mut ctx = Context::new();
    ctx.insert("user", &session.user);
    ctx.insert("expires_at", &session.expires_at.format("%H:%M:%S UTC on %Y-%m-%d").to_string());
    ctx.insert("expires_at_iso", &session.expires_at.to_rfc3339());
    ctx.insert("idle_timeout", &humantime::format_duration(app.sessions.idle_timeout()).to_string());
    ctx.insert("csrf_token", &jar.csrf_token());
    page(&app, StatusCode::OK, "demo-rp/protected.html", &ctx)
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends this app's session, then asks the provider to end its own.
pub async fn logout_post(State(app): State<AppState>, cookies: Cookies, Form(form): Form<LogoutForm>) -> Response {
    let jar = jar(&app, &cookies);
    // Without this check any site could sign people out of this app.
    if !jar.csrf_ok(&form.csrf_token) {
        return form_expired(&app, &jar, DEFAULT_RETURN_TO);
    }
    let session = jar.get(cookies::SESSION).and_then(|id| app.sessions.end(&id));
    jar.remove(cookies::SESSION);
    let Some(session) = session else { return Redirect::to("/?notice=signed_out").into_response() };
    let state = CsrfToken::new_random();
    match app.provider.logout_url(&session.id_token, state.clone()).await {
        Some(url) => {
            jar.set(cookies::LOGOUT, state.secret().clone(), Some(LOGIN_TTL));
            Redirect::to(url.as_str()).into_response()
        }
        None => Redirect::to("/?notice=signed_out_locally").into_response(),
    }
}

/// `GET /style.css`.
pub async fn stylesheet_get() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Anything else.
pub async fn not_found(State(app): State<AppState>) -> Response {
    let mut ctx = Context::new();
    ctx.insert("title", "Page not found");
    ctx.insert("message", "There is nothing at this address.");
    ctx.insert("try_again", &false);
    page(&app, StatusCode::NOT_FOUND, "demo-rp/error.html", &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_only_local_paths() {
        for ok in ["/", "/protected", "/protected?tab=claims", "/a/b#c"] {
            assert_eq!(safe_return_to(ok).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "protected",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/%0d%0a".replace("%0d%0a", "\r\n").as_str(),
            "javascript:alert(1)",
            &format!("/{}", "a".repeat(600)),
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }
}
