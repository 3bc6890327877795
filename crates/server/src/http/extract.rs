//! Extractors for the pages: who is signed in, the CSRF token for a form, and a form body that is
//! accepted only with a valid CSRF token from this site.
//!
//! They reject early and always with an HTML page (`PageError`), never with axum's plain-text
//! rejections: a bad body is a 400 page, a forged form a 403 page, a missing session a redirect to
//! the sign-in page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::model::{Account, Session};
use latchkey_core::secret::{Secret, TokenHash};
use latchkey_core::session::SessionStatus;
use latchkey_core::store::{AccountStore as _, SessionStore as _};
use serde::de::DeserializeOwned;
use tower_cookies::Cookies;

use crate::auth::{RequestMeta, end_session};
use crate::config::Config;
use crate::http::client_ip::ClientIp;
use crate::http::error::PageError;
use crate::http::flash::{self, Flash};
use crate::http::paths;
use crate::http::session::{CookieSettings, session_policy};
use crate::state::AppState;

/// The message of every CSRF rejection: the person can always recover by reloading.
pub const CSRF_MESSAGE: &str =
    "This form has expired or was sent from another site. Please go back, reload the page and try again.";

/// The name of the hidden form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

async fn cookies(parts: &mut Parts, app: &AppState) -> Result<Cookies, PageError> {
    Cookies::from_request_parts(parts, app).await.map_err(|(_, msg)| PageError::internal(msg))
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Ok(ip) = ClientIp::from_request_parts(parts, app).await;
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(RequestMeta::new(ip.to_string_opt(), user_agent))
    }
}

/// The signed-in person. Pages that need one take this; without a valid session the request is
/// redirected to `/login?return_to=<this page>` (with "Your session expired" when it did).
///
/// While an administrator requires a new password (`Account::password_change_required`), the
/// request is instead redirected to `/account/password?return_to=<this page>` and the handler never
/// runs, so no page shows and no form changes anything until the password is changed. Deciding it
/// here, in the one extractor every such page (the account console, the admin console) takes, is
/// what makes the requirement binding rather than advisory: no route can forget it. The password
/// page itself takes [`PasswordChangeSession`]; the pages that work either way (sign-in, sign-out,
/// `/authorize`, consent) take [`OptionalSession`] and decide for themselves.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: Session,
    pub account: Account,
}

/// For pages that work either way (the sign-in page itself, sign-out).
#[derive(Debug, Clone)]
pub struct OptionalSession {
    pub current: Option<CurrentSession>,
    /// The browser presented a session that has expired (or is gone): say so on the sign-in page.
    pub expired: bool,
}

#[derive(Debug, Clone)]
enum Lookup {
    Anonymous,
    Active(Arc<CurrentSession>),
    Expired,
}

/// Resolves the session cookie once per request (the result is cached in the request's extensions).
/// Expiry is decided here, on the server, whatever the cookie's own lifetime: an expired session is
/// deleted and audited, and its cookie removed.
async fn lookup(parts: &mut Parts, app: &AppState) -> Result<Lookup, PageError> {
    if let Some(found) = parts.extensions.get::<Lookup>() {
        return Ok(found.clone());
    }
    let cookies = cookies(parts, app).await?;
    let settings = CookieSettings::new(&app.config);
    let name = settings.session_name();
    let Some(value) = cookies.get(name).map(|c| c.value().to_owned()) else {
        parts.extensions.insert(Lookup::Anonymous);
        return Ok(Lookup::Anonymous);
    };
    let Ok(meta) = RequestMeta::from_request_parts(parts, app).await;
    let now = app.clock.now();
    let found = match app.store.find_session_by_secret(&TokenHash::of(&value)).await? {
        // A cookie for no session: purged after it expired, or ended elsewhere. Anonymous either way.
        None => {
            cookies.remove(settings.removal(name));
            Lookup::Expired
        }
        Some(mut session) => match session_policy(&app.config.session).check(&session, now) {
            SessionStatus::Valid { touch } => match app.store.find_account(session.account_id).await? {
                Some(account) if !account.disabled => {
                    if touch {
                        match app.store.touch_session(session.id, now).await {
                            Ok(()) => session.last_seen_at = now,
                            Err(err) => tracing::warn!(error = %err, "session touch failed"),
                        }
                    }
                    Lookup::Active(Arc::new(CurrentSession { session, account }))
                }
                _ => {
                    end_session(
                        app,
                        &session,
                        "session.ended",
                        &meta,
                        serde_json::json!({"reason": "account_disabled"}),
                    )
                    .await;
                    cookies.remove(settings.removal(name));
                    Lookup::Anonymous
                }
            },
            status => {
                end_session(app, &session, "session.expired", &meta, serde_json::json!({"reason": status.reason()}))
                    .await;
                cookies.remove(settings.removal(name));
                Lookup::Expired
            }
        },
    };
    parts.extensions.insert(found.clone());
    Ok(found)
}

impl FromRequestParts<AppState> for OptionalSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Ok(match lookup(parts, app).await? {
            Lookup::Anonymous => Self { current: None, expired: false },
            Lookup::Expired => Self { current: None, expired: true },
            Lookup::Active(current) => Self { current: Some((*current).clone()), expired: false },
        })
    }
}

/// Where a page without a session sends the browser: the sign-in page, which sends it back here.
pub fn login_redirect(return_to: &str) -> Redirect {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", return_to).finish();
    Redirect::to(&format!("{}?{query}", paths::LOGIN))
}

/// The password page, carrying `return_to` (where a successful change goes on to; the page
/// validates it again) if there is one.
pub fn password_change_location(return_to: Option<&str>) -> String {
    match return_to {
        Some(back) => {
            let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", back).finish();
            format!("{}?{query}", paths::ACCOUNT_PASSWORD)
        }
        None => paths::ACCOUNT_PASSWORD.to_owned(),
    }
}

/// This request as a `return_to`, validated like the sign-in page's. Only a page can be returned
/// to: a GET returns to itself; a form post returns to the page it was posted from (its
/// same-origin `Referer`), because the form's own address may accept nothing but posts; without
/// one, the start of the console the form belongs to (the admin overview, else the account page).
fn here(parts: &Parts, app: &AppState) -> String {
    if parts.method == Method::GET {
        return latchkey_core::session::safe_return_to(Some(
            parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str()),
        ));
    }
    let from = parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .filter(|r| r.origin() == app.config.issuer.origin())
        .map(|r| match r.query() {
            Some(q) => format!("{}?{q}", r.path()),
            None => r.path().to_owned(),
        });
    let admin = crate::http::admin::paths::ADMIN;
    let console = parts.uri.path().strip_prefix(admin).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    latchkey_core::session::safe_return_to(from.as_deref().or(console.then_some(admin)))
}

/// The signed-in person on the password page: the one page (with sign-out) that a person whose
/// administrator requires a new password may use, since it is where the requirement is lifted.
/// Every other page takes [`CurrentSession`].
#[derive(Debug, Clone)]
pub struct PasswordChangeSession(pub CurrentSession);

impl FromRequestParts<AppState> for PasswordChangeSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        match lookup(parts, app).await.map_err(IntoResponse::into_response)? {
            Lookup::Active(current) => Ok(Self((*current).clone())),
            other => {
                let cookies = cookies(parts, app).await.map_err(IntoResponse::into_response)?;
                if matches!(other, Lookup::Expired) {
                    flash::set(app, &cookies, Flash::SessionExpired);
                }
                Err(login_redirect(&here(parts, app)).into_response())
            }
        }
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let PasswordChangeSession(current) = PasswordChangeSession::from_request_parts(parts, app).await?;
        if current.account.password_change_required {
            tracing::info!(account = %current.account.id, path = parts.uri.path(), "password change required first");
            return Err(Redirect::to(&password_change_location(Some(&here(parts, app)))).into_response());
        }
        Ok(current)
    }
}

/// The CSRF token to put in a form. Makes sure the browser has a CSRF cookie (setting a fresh
/// random one if not); the token is an HMAC of that cookie under a server key.
///
/// This is the signed double-submit pattern (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit
/// Cookie"): a cross-site page can neither read the cookie nor compute the HMAC, and a planted
/// cookie is useless without a token made for it by the server, which only the page's own origin can
/// read. Works before any session exists, so the sign-in and sign-up forms are protected too (login CSRF).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl FromRequestParts<AppState> for CsrfToken {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let cookies = cookies(parts, app).await?;
        let settings = CookieSettings::new(&app.config);
        let existing =
            cookies.get(settings.csrf_name()).map(|c| c.value().to_owned()).filter(|v| is_csrf_cookie_value(v));
        let value = match existing {
            Some(value) => value,
            None => {
                let secret = Secret::generate();
                cookies.add(settings.cookie(settings.csrf_name(), secret.expose().to_owned(), None));
                secret.expose().to_owned()
            }
        };
        Ok(Self(app.secrets.csrf_token(&value)))
    }
}

/// Our cookie values are 43 characters of base64url; anything else was not set by us.
fn is_csrf_cookie_value(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Is this POST from one of our own pages? Browsers say where a request comes from in
/// `Sec-Fetch-Site` (Fetch Metadata) and `Origin`; a request without either (an old browser, a
/// script) is left to the token. `Origin: null` is accepted only when the browser also says
/// `same-origin`: browsers send `null` for same-origin posts from pages with a strict referrer
/// policy, but also for sandboxed frames and cross-site redirects.
pub fn same_origin_request(parts: &Parts, config: &Config) -> bool {
    let fetch_site = parts.headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return false;
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if origin == "null" {
        return fetch_site == Some("same-origin");
    }
    if origin == config.issuer.origin().ascii_serialization() {
        return true;
    }
    // The server may be reached under another name than the issuer's (a test on a random port, a
    // node's own address): the Origin must then name the host the request was sent to, which a
    // cross-site page cannot choose.
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Ok(origin) = url::Url::parse(origin) else { return false };
    let authority = match (origin.host_str(), origin.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return false,
    };
    host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
}

/// A form body, accepted only from this site and with a valid CSRF token.
///
/// Checks, in order: where the request comes from (403), that it is a form (400), that it is
/// well-formed UTF-8 (400), the CSRF token (403), and finally that it has the fields `T` needs (400).
#[derive(Debug, Clone)]
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        if !same_origin_request(&parts, &app.config) {
            tracing::info!("cross-site form post refused");
            return Err(PageError::Forbidden(CSRF_MESSAGE.into()));
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::BadRequest(
                "This address accepts only a form submitted from its page. Please go back, reload the page and try again."
                    .into(),
            ));
        }
        let cookies = cookies(&mut parts, app).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), app).await.map_err(|rejection| {
            PageError::BadRequest(if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                "The submitted form is larger than this server accepts.".into()
            } else {
                "The submitted form could not be read. Please try again.".into()
            })
        })?;
        let pairs = decode_form(&bytes)?;
        let settings = CookieSettings::new(&app.config);
        let cookie = cookies.get(settings.csrf_name()).map(|c| c.value().to_owned());
        let mut tokens = pairs.iter().filter(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.as_str());
        let token_ok = match (cookie, tokens.next(), tokens.next()) {
            (Some(cookie), Some(token), None) => app.secrets.verify_csrf(&cookie, token),
            _ => false,
        };
        if !token_ok {
            tracing::info!("form post with a missing or wrong CSRF token refused");
            return Err(PageError::Forbidden(CSRF_MESSAGE.into()));
        }
        let value = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|err| {
            PageError::BadRequest(format!(
                "The submitted form is incomplete or malformed ({err}). Please go back, reload the page and try again."
            ))
        })?;
        Ok(Self(value))
    }
}

/// A page's query string; a malformed one is a 400 page (never axum's plain-text rejection).
#[derive(Debug, Clone, Default)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _app: &AppState) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        decode_form(query.as_bytes())?;
        serde_urlencoded::from_str(query)
            .map(Self)
            .map_err(|err| PageError::BadRequest(format!("The address has a malformed query ({err}).")))
    }
}

/// Decodes `application/x-www-form-urlencoded` strictly: every name and value must be UTF-8 once
/// percent-decoded. The usual decoders replace bad bytes with U+FFFD silently, which would turn a
/// malformed password into a different, valid one.
fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    let invalid = || {
        PageError::BadRequest(
            "The submitted form contains text that is not valid UTF-8. Please go back and try again.".into(),
        )
    };
    let mut pairs = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let mut halves = pair.splitn(2, |b| *b == b'=');
        let name = halves.next().unwrap_or_default();
        let value = halves.next().unwrap_or_default();
        let decode = |raw: &[u8]| -> Result<String, PageError> {
            let spaced: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
            String::from_utf8(decoded).map_err(|_| invalid())
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = HttpRequest::post("/login");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn origin_rules() {
        let config = Config::default(); // issuer http://127.0.0.1:8080
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("origin", "http://127.0.0.1:8080")], true),
            (&[("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin")], true),
            (&[("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "same-site")], false),
            (&[("sec-fetch-site", "none")], true),
            (&[("origin", "https://evil.example")], false),
            (&[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")], false),
            (&[("origin", "http://127.0.0.1:4567"), ("host", "127.0.0.1:4567")], true),
            (&[("origin", "http://127.0.0.1:4567"), ("host", "127.0.0.1:4568")], false),
            (&[("origin", "null")], false),
            (&[("origin", "null"), ("sec-fetch-site", "same-origin")], true),
            (&[("origin", "not a url"), ("host", "not a url")], false),
        ];
        for (headers, want) in cases {
            assert_eq!(same_origin_request(&parts(headers), &config), *want, "{headers:?}");
        }
    }

    #[test]
    fn forms_decode_strictly() {
        let pairs = decode_form(b"a=1&b=caf%C3%A9+au+lait&c=&d").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "café au lait".into()),
                ("c".into(), String::new()),
                ("d".into(), String::new())
            ]
        );
        assert!(decode_form(b"a=%FF%FE").is_err());
        assert!(decode_form(b"a=\xff").is_err());
        assert!(decode_form(b"%C3=x").is_err());
    }

    #[test]
    fn csrf_cookie_values_are_checked_for_shape() {
        assert!(is_csrf_cookie_value(Secret::generate().expose()));
        assert!(!is_csrf_cookie_value("short"));
        assert!(!is_csrf_cookie_value(&"a;".repeat(22)[..43]));
    }
}
