//! `GET/POST /authorize`: the authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2).
//!
//! The order is the security boundary of [`latchkey_core::authorize`]: until the client and its
//! redirect URI are verified every error is a page; after, errors go back to the client by
//! redirect with `error`, `error_description`, `state` and `iss` (RFC 9207). Then authentication
//! (session, `prompt`, `max_age`, `id_token_hint`), a new password if an administrator requires
//! one, consent, and the code.
//!
//! Two things travel through the browser and are signed with a key derived from the
//! key-encryption key (so every node agrees), never trusted as sent:
//!
//! - the *login marker* (`_lk_login`), appended to the authorization request when the person is
//!   sent to sign in. It says "login was demanded at time T while session S (or none) was
//!   current", bound to the exact request. On return the re-authentication counts as fresh only
//!   if a *different* session (sign-in always starts a new one) authenticated at or after T, so
//!   `prompt=login` and `max_age` are satisfied once and never loop, and a stale or forged marker
//!   cannot skip a login;
//! - the *consent ticket* (see `consent.rs`), which binds the pending request to the browser's
//!   session.

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use latchkey_core::authorize::{
    self, AuthDecision, AuthorizePolicy, RawAuthorizeRequest, RedirectError, UnverifiedError, ValidatedAuthorize,
};
use latchkey_core::grants::authorization_code::issue_code;
use latchkey_core::model::{ClientId, SessionId};
use latchkey_core::scope::OIDC_SCOPES;
use latchkey_core::session::RETURN_TO_MAX;
use latchkey_core::store::{ClientStore as _, GrantStore as _};
use latchkey_core::tokens::verify_id_token;
use url::Url;

use crate::http::consent;
use crate::http::error::PageError;
use crate::http::extract::{CsrfToken, CurrentSession, OptionalSession, password_change_location};
use crate::http::page::no_store;
use crate::http::paths;
use crate::state::AppState;

/// The query parameter carrying the signed login marker.
pub const LOGIN_MARKER: &str = "_lk_login";

/// How long a login marker stays valid: long enough to type a password (and fetch it from a
/// manager), short enough that an old marker is worthless.
const MARKER_TTL: Duration = Duration::minutes(15);

const HMAC_LABEL: &str = "latchkey authorize v1";

/// An authorization error, on the channel the verification state allows.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Client or redirect URI unverified: shown to the person, never redirected (RFC 6749 §4.1.2.1).
    Page(PageError),
    /// Verified: back to the client (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
    Redirect(Url),
}

impl From<PageError> for AuthorizeError {
    fn from(err: PageError) -> Self {
        Self::Page(err)
    }
}

impl From<latchkey_core::StoreError> for AuthorizeError {
    fn from(err: latchkey_core::StoreError) -> Self {
        Self::Page(err.into())
    }
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            Self::Page(err) => err.into_response(),
            Self::Redirect(url) => see_other(url.as_str()),
        }
    }
}

/// A 303 that no cache keeps: authorization responses carry codes and state.
pub fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    no_store(&mut response);
    response
}

/// The error redirect to a verified client: `error`, `error_description`, `state`, `iss`.
pub fn error_redirect(app: &AppState, redirect_uri: &str, state: Option<&str>, err: &RedirectError) -> AuthorizeError {
    let params = [("error", err.error), ("error_description", err.description.as_str())];
    match authorize::redirect_url(redirect_uri, &params, state, &app.oidc.issuer) {
        Some(url) => AuthorizeError::Redirect(url),
        // A registered URI always parses (registration checks it); if not, the page is the safe answer.
        None => {
            AuthorizeError::Page(PageError::Internal(format!("registered redirect URI {redirect_uri:?} is not a URL")))
        }
    }
}

fn redirect_error(error: &'static str, description: &str) -> RedirectError {
    RedirectError { error, description: description.to_owned() }
}

/// The key for login markers and consent tickets, derived from the key-encryption key.
pub(crate) fn hmac_key(app: &AppState) -> Result<hmac::Key, PageError> {
    let mut bytes = [0u8; 32];
    app.keys.kek().derive(HMAC_LABEL, &mut bytes).map_err(PageError::internal)?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

pub(crate) fn sign(key: &hmac::Key, parts: &[&str]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    for part in parts {
        // Length-prefixed, so no two different part lists produce the same input.
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
}

pub(crate) fn verify(key: &hmac::Key, parts: &[&str], tag: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else { return false };
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    // Constant-time comparison inside aws-lc-rs.
    hmac::verify(key, &input, &tag).is_ok()
}

/// The authorization request as it will be re-sent (to sign-in and back, or through the consent
/// form): its parameters in order, without our marker, form-encoded.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != LOGIN_MARKER) {
        out.append_pair(k, v);
    }
    out.finish()
}

/// A parsed login marker: `<unix seconds>.<session id or "none">.<tag>`.
struct Marker {
    demanded_at: i64,
    prior_session: String,
}

fn read_marker(key: &hmac::Key, value: &str, query: &str) -> Option<Marker> {
    let mut it = value.splitn(3, '.');
    let (t, prior, tag) = (it.next()?, it.next()?, it.next()?);
    if !verify(key, &["login", t, prior, query], tag) {
        return None;
    }
    Some(Marker { demanded_at: t.parse().ok()?, prior_session: prior.to_owned() })
}

fn make_marker(key: &hmac::Key, now: DateTime<Utc>, prior: Option<SessionId>, query: &str) -> String {
    let t = now.timestamp().to_string();
    let prior = prior.map_or_else(|| "none".to_owned(), |s| s.to_string());
    let tag = sign(key, &["login", &t, &prior, query]);
    format!("{t}.{prior}.{tag}")
}

/// Did the person sign in anew after this request demanded it? A new session (sign-in never reuses
/// one) authenticated at or after the demand, within the marker's lifetime.
fn is_fresh(marker: Option<&Marker>, session: Option<&CurrentSession>, now: DateTime<Utc>) -> bool {
    let (Some(m), Some(s)) = (marker, session) else { return false };
    let age = now.timestamp() - m.demanded_at;
    (0..=MARKER_TTL.num_seconds()).contains(&age)
        && s.session.id.to_string() != m.prior_session
        && s.session.auth_time.timestamp() >= m.demanded_at
}

/// The server's policy for authorization requests: PKCE always (RFC 9700 §2.1.1), and the OIDC
/// scopes plus whatever API scopes the client is registered for.
fn policy(client: Option<&latchkey_core::model::Client>) -> AuthorizePolicy {
    let mut supported: Vec<String> = OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    if let Some(c) = client {
        supported.extend(c.scopes.iter().filter(|s| !supported.contains(s)).cloned().collect::<Vec<_>>());
    }
    AuthorizePolicy { require_pkce: true, supported_scopes: supported }
}

/// Steps 1 and 2: parse, verify the client and redirect URI, validate the rest.
pub async fn validate(
    app: &AppState,
    pairs: &[(String, String)],
) -> Result<(RawAuthorizeRequest, ValidatedAuthorize), AuthorizeError> {
    let raw = RawAuthorizeRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|d| unverified(UnverifiedError::Duplicate(d.0)))?;
    let client = match &raw.client_id {
        Some(id) => app.store.find_client(&ClientId(id.clone())).await?,
        None => None,
    };
    let policy = policy(client.as_ref());
    let (client, redirect_uri, sent) = authorize::verify_client_and_redirect(&raw, client).map_err(unverified)?;
    let validated = authorize::validate_request(&raw, client, redirect_uri.clone(), sent, &policy)
        .map_err(|e| error_redirect(app, &redirect_uri, raw.state.as_deref(), &e))?;
    Ok((raw, validated))
}

fn unverified(err: UnverifiedError) -> AuthorizeError {
    AuthorizeError::Page(PageError::BadRequest(format!(
        "{err} Return to the application and try again, or tell its developers."
    )))
}

pub async fn authorize_get(
    State(app): State<AppState>,
    session: OptionalSession,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, AuthorizeError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    run(&app, pairs, session.current, csrf).await
}

/// OIDC Core §3.1.2.1: the endpoint also accepts the parameters as a form post (an RP's
/// auto-submitting form, cross-site by nature: no CSRF check here; nothing changes until the
/// person acts on our own pages).
pub async fn authorize_post(
    State(app): State<AppState>,
    session: OptionalSession,
    csrf: CsrfToken,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AuthorizeError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(PageError::BadRequest("The authorization request must be sent as a form.".into()).into());
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    run(&app, pairs, session.current, csrf).await
}

async fn run(
    app: &AppState,
    pairs: Vec<(String, String)>,
    session: Option<CurrentSession>,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, AuthorizeError> {
    let (raw, req) = validate(app, &pairs).await?;
    let now = app.clock.now();
    let fail = |error: &'static str, description: &str| {
        error_redirect(app, &req.redirect_uri, req.state.as_deref(), &redirect_error(error, description))
    };
    let key = hmac_key(app)?;
    let query = canonical_query(&pairs);

    // OIDC Core §3.1.2.1 id_token_hint: one of our ID tokens (it may have expired). Anything else
    // (tampered, foreign, `alg: none`) is refused, not ignored: the client asked for a specific person.
    let hint_sub = match &req.id_token_hint {
        None => None,
        Some(hint) => match verify_id_token(&app.keys.ring(), &app.oidc.issuer, hint, true, now) {
            // OIDC Core does not require the hint's audience to be the requesting client, but a hint
            // issued to another application means ID tokens are being passed between applications;
            // refused, as RP-initiated logout refuses a client_id that is not the hint's audience.
            Ok(claims) if claims.aud != req.client.id.0 => {
                tracing::info!(aud = %claims.aud, client_id = %req.client.id.0, "id_token_hint for another client refused");
                return Err(fail("invalid_request", "id_token_hint was issued to another application."));
            }
            Ok(claims) => Some(claims.sub),
            Err(e) => {
                tracing::info!(reason = %e, "id_token_hint refused");
                return Err(fail("invalid_request", "id_token_hint is not a valid ID token issued by this server."));
            }
        },
    };

    let marker = pairs.iter().find(|(k, _)| k == LOGIN_MARKER).and_then(|(_, v)| read_marker(&key, v, &query));
    let fresh = is_fresh(marker.as_ref(), session.as_ref(), now);
    let mut decision = if fresh {
        // Signed in after this request asked: that satisfies prompt=login and max_age (max_age=0
        // included, which a clock tick would otherwise turn into a loop).
        AuthDecision::Proceed
    } else {
        authorize::authentication_decision(&req, session.as_ref().map(|s| s.session.auth_time), false, now)
    };
    if decision == AuthDecision::Proceed
        && let (Some(sub), Some(current)) = (&hint_sub, &session)
        && *sub != current.account.id.to_string()
    {
        // OIDC Core §3.1.2.1: the hinted person is not the one signed in. Under prompt=none that is
        // login_required; otherwise they sign in, and whoever signs in freshly is the answer.
        decision = if req.prompt.none {
            AuthDecision::LoginRequired
        } else if fresh {
            AuthDecision::Proceed
        } else {
            AuthDecision::Login
        };
    }
    match decision {
        AuthDecision::LoginRequired => {
            return Err(fail("login_required", "The person must sign in, and prompt=none forbids asking."));
        }
        AuthDecision::Login => return send_to_login(&key, &query, &raw, session.as_ref(), now, &fail),
        AuthDecision::Proceed => {}
    }
    let Some(current) = session else {
        return Err(AuthorizeError::Page(PageError::Internal("authenticated without a session".into())));
    };
    // An administrator requires a new password: no code (nor consent) until it is chosen, or the
    // requirement would be advisory. The person is sent to choose it and then resumes this request.
    // Codes issued before the flag was set stay valid at the token endpoint (and refresh tokens keep
    // working): the flag is not a revocation; disabling the account is (docs/admin.md).
    if current.account.password_change_required {
        if req.prompt.none {
            // OIDC Core §3.1.2.6: the person must interact, and prompt=none forbids it.
            return Err(fail(
                "interaction_required",
                "The person must choose a new password, and prompt=none forbids asking.",
            ));
        }
        return send_to_password_change(&pairs, &fail);
    }

    let remembered = app.store.find_consent(current.account.id, &req.client.id).await?;
    if authorize::consent_needed(&req.client, remembered.as_ref().map(|c| c.scopes.as_slice()), &req.scopes, req.prompt)
    {
        if req.prompt.none {
            return Err(fail("consent_required", "The person has not consented, and prompt=none forbids asking."));
        }
        return Ok(consent::render_consent(app, &key, &csrf, &current, &req, &query, now)?);
    }
    issue_and_redirect(app, &req, &current, now).await
}

/// Sends the browser to sign in, carrying the request (with a fresh login marker) in `return_to`.
fn send_to_login(
    key: &hmac::Key,
    query: &str,
    raw: &RawAuthorizeRequest,
    session: Option<&CurrentSession>,
    now: DateTime<Utc>,
    fail: &dyn Fn(&'static str, &str) -> AuthorizeError,
) -> Result<Response, AuthorizeError> {
    let marker = make_marker(key, now, session.map(|s| s.session.id), query);
    // `query` is never empty here: a validated request has at least client_id and response_type.
    let marker = url::form_urlencoded::Serializer::new(String::new()).append_pair(LOGIN_MARKER, &marker).finish();
    let back = format!("{}?{query}&{marker}", paths::AUTHORIZE);
    // The sign-in page follows only local paths up to RETURN_TO_MAX; a longer one would be dropped
    // silently and the person would land on their account page instead of back at the client.
    if back.len() > RETURN_TO_MAX {
        return Err(fail("invalid_request", "The authorization request is too long to resume after sign-in."));
    }
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &back);
    if let Some(hint) = &raw.login_hint {
        login.append_pair("login_hint", hint);
    }
    Ok(see_other(&format!("{}?{}", paths::LOGIN, login.finish())))
}

/// Sends the browser to the password page, carrying this request in `return_to` exactly as it came
/// (a login marker included: the sign-in it stands for is still the one the session made).
fn send_to_password_change(
    pairs: &[(String, String)],
    fail: &dyn Fn(&'static str, &str) -> AuthorizeError,
) -> Result<Response, AuthorizeError> {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let back = format!("{}?{query}", paths::AUTHORIZE);
    // As for sign-in: a longer return_to would not be followed, and the person would be stranded.
    if back.len() > RETURN_TO_MAX {
        return Err(fail(
            "invalid_request",
            "The authorization request is too long to resume after a password change.",
        ));
    }
    Ok(see_other(&password_change_location(Some(&back))))
}

/// Step 4: the code, stored hashed, and the redirect with `code`, `state` and `iss`.
pub async fn issue_and_redirect(
    app: &AppState,
    req: &ValidatedAuthorize,
    current: &CurrentSession,
    now: DateTime<Utc>,
) -> Result<Response, AuthorizeError> {
    let (secret, code) = issue_code(req, current.account.id, current.session.id, current.session.auth_time, now);
    app.store.insert_code(code).await?;
    let url = authorize::redirect_url(
        &req.redirect_uri,
        &[("code", secret.expose())],
        req.state.as_deref(),
        &app.oidc.issuer,
    )
    .ok_or_else(|| PageError::Internal(format!("registered redirect URI {:?} is not a URL", req.redirect_uri)))?;
    Ok(see_other(url.as_str()))
}
