//! `GET/POST /end_session`: RP-Initiated Logout 1.0 (OpenID Connect).
//!
//! The relying party sends the person here with `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri` and `state` (§2). The rules:
//!
//! - `post_logout_redirect_uri` is followed only when it exactly matches one registered for a
//!   client we know from the hint or from `client_id` (§3: "MUST NOT perform post-logout redirection
//!   if [it] does not exactly match"); otherwise the request is refused with a page, never redirected;
//! - a valid hint naming the current session (its `sid`, or its `sub` when it has none) signs the
//!   person out at once (§2: the hint is the RP's proof it knows this session);
//! - without one, we ask (§2: "the OP SHOULD ask the End-User whether to log out"): the confirmation
//!   page posts to `/end_session/confirm` with a CSRF token, so a link or an embedded image cannot
//!   sign anyone out.
//!
//! The first request may be a cross-site form post from the relying party, so it is not CSRF
//! checked; it changes nothing without a valid hint for the very session it ends.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latchkey_core::model::{Client, ClientId};
use latchkey_core::store::ClientStore as _;
use latchkey_core::tokens::{IdTokenClaims, verify_id_token};
use serde::Deserialize;
use tera::Context;
use tower_cookies::Cookies;
use url::Url;

use crate::auth::{self, RequestMeta};
use crate::http::authorize::see_other;
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, CurrentSession, OptionalSession, PageQuery};
use crate::http::flash;
use crate::http::page::render;
use crate::http::session::CookieSettings;
use crate::state::AppState;

/// The request parameters (§2); others (`ui_locales`, `logout_hint`) are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// The confirmation form; the same parameters minus the hint (already checked, and not needed).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// `logout` or `stay`.
    pub decision: String,
}

/// A checked request.
struct Resolved {
    hint: Option<IdTokenClaims>,
    client: Option<Client>,
    /// Verified against the client's registration.
    redirect: Option<String>,
    state: Option<String>,
}

fn bad(message: &str) -> PageError {
    PageError::BadRequest(format!("{message} You have not been signed out by this request."))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

async fn resolve(app: &AppState, params: EndSessionParams) -> Result<Resolved, PageError> {
    let now = app.clock.now();
    let hint = match non_empty(params.id_token_hint) {
        None => None,
        // §2: the hint may have expired; it must still be ours and intact.
        Some(h) => Some(
            verify_id_token(&app.keys.ring(), &app.oidc.issuer, &h, true, now)
                .map_err(|_| bad("The sign-out request carries an ID token that was not issued by this server."))?,
        ),
    };
    let client_id = match (hint.as_ref().map(|c| c.aud.clone()), non_empty(params.client_id)) {
        (Some(aud), Some(id)) if aud != id => {
            return Err(bad("The sign-out request names one application in client_id and another in the ID token."));
        }
        (Some(aud), _) => Some(aud),
        (None, id) => id,
    };
    let client = match &client_id {
        Some(id) => Some(
            app.store
                .find_client(&ClientId(id.clone()))
                .await?
                .ok_or_else(|| bad("The application that sent you here is not registered with this server."))?,
        ),
        None => None,
    };
    let redirect = match (non_empty(params.post_logout_redirect_uri), &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(bad(
                "The sign-out request gives a return address but does not say which application it is for.",
            ));
        }
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.contains(&uri) => Some(uri),
        (Some(_), Some(_)) => {
            return Err(bad(
                "The return address the application gave is not registered for it, so you were not sent back.",
            ));
        }
    };
    Ok(Resolved { hint, client, redirect, state: non_empty(params.state) })
}

/// Does the hint name the current session? Its `sid` when present (OIDC Front-Channel Logout §2
/// defines `sid` per session), else its `sub`.
fn hint_matches(hint: &IdTokenClaims, current: &CurrentSession) -> bool {
    match &hint.sid {
        Some(sid) => *sid == current.session.id.to_string(),
        None => hint.sub == current.account.id.to_string(),
    }
}

pub async fn end_session_get(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    csrf: CsrfToken,
    PageQuery(params): PageQuery<EndSessionParams>,
) -> Result<Response, PageError> {
    handle(&app, session, &cookies, &meta, csrf, params).await
}

pub async fn end_session_post(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    csrf: CsrfToken,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(bad("The sign-out request must be sent as a form."));
    }
    let params = serde_urlencoded::from_bytes::<EndSessionParams>(&body)
        .map_err(|_| bad("The sign-out request is malformed."))?;
    handle(&app, session, &cookies, &meta, csrf, params).await
}

async fn handle(
    app: &AppState,
    session: OptionalSession,
    cookies: &Cookies,
    meta: &RequestMeta,
    CsrfToken(csrf): CsrfToken,
    params: EndSessionParams,
) -> Result<Response, PageError> {
    let resolved = resolve(app, params).await?;
    let Some(current) = session.current else {
        // Already signed out (or never signed in): nothing to end, go back as asked.
        return finish(app, &resolved.redirect, resolved.state.as_deref());
    };
    if resolved.hint.as_ref().is_some_and(|h| hint_matches(h, &current)) {
        end(app, cookies, meta, &current, resolved.client.as_ref()).await;
        return finish(app, &resolved.redirect, resolved.state.as_deref());
    }
    let mut ctx = Context::new();
    ctx.insert("csrf_token", &csrf);
    ctx.insert("username", &current.account.username);
    ctx.insert("client_name", &resolved.client.as_ref().map(|c| c.name.clone()));
    ctx.insert("client_id", &resolved.client.as_ref().map(|c| c.id.0.clone()));
    ctx.insert("post_logout_redirect_uri", &resolved.redirect);
    ctx.insert("state", &resolved.state);
    let mut response = render(app, StatusCode::OK, "idp/end_session.html", &ctx)?;
    // Confirming ends in a redirect to the client's post-logout URI.
    if let Some(target) = &resolved.redirect {
        crate::http::page::allow_form_redirects(&mut response, std::slice::from_ref(target));
    }
    Ok(response)
}

pub async fn end_session_confirm_post(
    State(app): State<AppState>,
    session: OptionalSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    // Re-checked: the form's hidden fields are only as trustworthy as the registration says.
    let params = EndSessionParams {
        id_token_hint: None,
        client_id: form.client_id,
        post_logout_redirect_uri: form.post_logout_redirect_uri,
        state: form.state,
    };
    let resolved = resolve(&app, params).await?;
    match form.decision.as_str() {
        "logout" => {
            if let Some(current) = session.current {
                end(&app, &cookies, &meta, &current, resolved.client.as_ref()).await;
            }
            finish(&app, &resolved.redirect, resolved.state.as_deref())
        }
        // Staying signed in: back to the account page, not to the client (it asked for a sign-out
        // that did not happen, and a redirect would tell it otherwise).
        _ => Ok(see_other(crate::http::paths::ACCOUNT)),
    }
}

async fn end(app: &AppState, cookies: &Cookies, meta: &RequestMeta, current: &CurrentSession, client: Option<&Client>) {
    let detail = serde_json::json!({ "via": "end_session", "client_id": client.map(|c| c.id.0.clone()) });
    auth::end_session(app, &current.session, "logout", meta, detail).await;
    let settings = CookieSettings::new(&app.config);
    cookies.remove(settings.removal(settings.session_name()));
    let _ = flash::take(app, cookies);
}

/// After sign-out: the verified post-logout URI with `state` (§3), or our signed-out page.
fn finish(app: &AppState, redirect: &Option<String>, state: Option<&str>) -> Result<Response, PageError> {
    match redirect {
        Some(uri) => {
            let mut url = Url::parse(uri).map_err(|e| PageError::internal(format!("post-logout URI {uri:?}: {e}")))?;
            if let Some(state) = state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Ok(see_other(url.as_str()))
        }
        None => render(app, StatusCode::OK, "idp/signed_out.html", &Context::new()),
    }
}
