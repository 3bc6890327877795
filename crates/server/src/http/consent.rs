//! The consent page: a third-party client asks for scopes, the person allows or denies.
//!
//! The page is rendered by the authorization endpoint (`authorize.rs`) in answer to the
//! authorization request itself; its form posts to `POST /consent` with:
//!
//! - the CSRF token (the `CsrfForm` extractor): the post comes from our page in this browser;
//! - the authorization request, re-validated in full on post (the client may have changed, and
//!   nothing in the form is trusted for more than the signature covers);
//! - a *ticket*: an HMAC over the browser's session id, the time the page was shown and the exact
//!   request. Approving therefore only works for the session the page was shown to, for that
//!   exact request, within [`TICKET_TTL`]: a page or form captured from another person's browser,
//!   or a request edited in the form (another redirect URI, more scopes), is refused.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use latchkey_core::authorize::{RedirectError, ValidatedAuthorize};
use latchkey_core::model::Consent;
use latchkey_core::scope;
use latchkey_core::session::safe_return_to;
use latchkey_core::store::GrantStore as _;
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::http::authorize::{self, AuthorizeError, hmac_key, sign, verify};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CurrentSession, OptionalSession, password_change_location};
use crate::http::page::render;
use crate::http::paths;
use crate::state::AppState;

/// How long the consent page may stay open before its answer is refused.
const TICKET_TTL: Duration = Duration::minutes(10);

const EXPIRED: &str = "This consent request has expired or belongs to another sign-in. Return to the application and \
                       start again.";

/// One line of the consent page.
#[derive(Debug, Serialize)]
struct ScopeView {
    name: String,
    description: String,
}

/// The scopes in plain words (OIDC Core §5.4 for the standard ones).
fn describe(scope: &str) -> String {
    match scope {
        scope::OPENID => "Know who you are: your Latchkey account identifier".into(),
        scope::PROFILE => "See your name and username".into(),
        scope::EMAIL => "See your email address and whether it is verified".into(),
        scope::ROLES => "See the roles you hold".into(),
        scope::OFFLINE_ACCESS => "Keep access while you are not using it, until you sign out of it or revoke it".into(),
        other => format!("Access “{other}”"),
    }
}

pub(crate) fn render_consent(
    app: &AppState,
    key: &aws_lc_rs::hmac::Key,
    csrf: &str,
    current: &CurrentSession,
    req: &ValidatedAuthorize,
    query: &str,
    now: DateTime<Utc>,
) -> Result<Response, PageError> {
    let issued_at = now.timestamp().to_string();
    let session_id = current.session.id.to_string();
    let ticket = sign(key, &["consent", &session_id, &issued_at, query]);
    let scopes: Vec<ScopeView> =
        req.scopes.iter().map(|s| ScopeView { name: s.clone(), description: describe(s) }).collect();
    let mut ctx = Context::new();
    ctx.insert("csrf_token", csrf);
    ctx.insert("client_name", &req.client.name);
    ctx.insert("client_id", &req.client.id.0);
    ctx.insert("username", &current.account.username);
    ctx.insert("scopes", &scopes);
    ctx.insert("request", query);
    ctx.insert("issued_at", &issued_at);
    ctx.insert("ticket", &ticket);
    let mut response = render(app, StatusCode::OK, "idp/consent.html", &ctx)?;
    // Allow and Deny both end in a redirect to the client.
    crate::http::page::allow_form_redirects(&mut response, std::slice::from_ref(&req.redirect_uri));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    pub request: String,
    pub issued_at: String,
    pub ticket: String,
    /// `allow` or `deny` (the button pressed).
    pub decision: String,
}

pub async fn consent_post(
    State(app): State<AppState>,
    session: OptionalSession,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Result<Response, AuthorizeError> {
    let Some(current) = session.current else {
        return Err(PageError::Forbidden(EXPIRED.into()).into());
    };
    // An administrator requires a new password (set while this page was open): nothing is
    // remembered and no code issued until it is chosen; then the request resumes from the start.
    if current.account.password_change_required {
        let back = safe_return_to(Some(&format!("{}?{}", paths::AUTHORIZE, form.request)));
        return Ok(authorize::see_other(&password_change_location(Some(&back))));
    }
    let now = app.clock.now();
    let key = hmac_key(&app)?;
    let age = form.issued_at.parse::<i64>().map(|t| now.timestamp() - t).unwrap_or(i64::MAX);
    let session_id = current.session.id.to_string();
    if !(0..=TICKET_TTL.num_seconds()).contains(&age)
        || !verify(&key, &["consent", &session_id, &form.issued_at, &form.request], &form.ticket)
    {
        tracing::info!("consent answer with a bad or expired ticket refused");
        return Err(PageError::Forbidden(EXPIRED.into()).into());
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.request.as_bytes()).into_owned().collect();
    let (_, req) = authorize::validate(&app, &pairs).await?;
    match form.decision.as_str() {
        "allow" => {}
        "deny" => {
            // RFC 6749 §4.1.2.1: "The resource owner or authorization server denied the request."
            let err = RedirectError { error: "access_denied", description: "The person declined the request.".into() };
            return Err(authorize::error_redirect(&app, &req.redirect_uri, req.state.as_deref(), &err));
        }
        _ => return Err(PageError::BadRequest("Choose Allow or Deny.".into()).into()),
    }
    // Remembered per account and client as the union of everything allowed so far, so a later
    // request for a subset does not ask again and one for a new scope does.
    let mut scopes =
        app.store.find_consent(current.account.id, &req.client.id).await?.map(|c| c.scopes).unwrap_or_default();
    for s in &req.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    app.store
        .upsert_consent(Consent {
            account_id: current.account.id,
            client_id: req.client.id.clone(),
            scopes,
            granted_at: now,
        })
        .await?;
    authorize::issue_and_redirect(&app, &req, &current, now).await
}
