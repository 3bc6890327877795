//! # The Latchkey demo relying party
//!
//! A small web app ("Acme Notes") that has no accounts of its own and signs people in with
//! Latchkey through OpenID Connect. It is the integration developers copy, and the third-party
//! client the end-to-end tests drive, so it does everything a relying party should and nothing
//! else:
//!
//! - **Discovery** of the provider from its issuer URL (`/.well-known/openid-configuration`), at
//!   start-up with retries and again on first use, so the app starts even when the provider is
//!   not up yet ([`oidc::Provider`]).
//! - **The authorization code flow** with PKCE (S256), `state` and `nonce` (`POST /login`,
//!   protected against cross-site requests with a token bound to the browser).
//! - **The callback** (`GET /callback`): the `state` must be the one this browser was given, the
//!   code is exchanged with the PKCE verifier and the client secret, the ID token is verified
//!   (signature against the provider's JWKS, issuer, audience, expiry, nonce, `at_hash`) and
//!   userinfo is fetched for the same subject. Each way this can fail (the person declines, the
//!   provider reports an error, the `state` is wrong or missing, a token is invalid, the provider
//!   is unreachable) shows a page saying so, with a "Try again" button.
//! - **Its own session**, server-side and in memory ([`session`]), keyed by a random id in a
//!   private `HttpOnly`, `SameSite=Lax` cookie ([`cookies`]). Tokens never reach the browser. The
//!   session ends after an hour without a request to a protected page (configurable); each such
//!   request slides it. Time comes from an injected [`clock::Clock`].
//! - **A protected page** (`GET /protected`) showing the person's name, email, roles and the ID
//!   token's claims.
//! - **Sign-out** (`POST /logout`): ends the app's session, then sends the browser to the
//!   provider's `end_session_endpoint` with `id_token_hint`, `post_logout_redirect_uri` and
//!   `state` (OpenID Connect RP-Initiated Logout 1.0), which ends the provider's session too.
//!
//! The openidconnect crate does the protocol work; [`pages`] holds the handlers, [`config`] the
//! layered configuration (`config/demo-rp.toml`, `LATCHKEY_DEMO_RP__*`). This crate knows nothing
//! about Latchkey's internals: it talks to the provider only over the standard endpoints, exactly
//! as any other application would.

pub mod clock;
pub mod config;
pub mod cookies;
pub mod oidc;
pub mod pages;
pub mod session;
pub mod templates;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_cookies::{CookieManagerLayer, Key};

use crate::clock::Clock;
use crate::config::Config;
use crate::oidc::Provider;
use crate::session::SessionStore;
use crate::templates::Templates;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub provider: Provider,
    pub sessions: SessionStore,
    pub templates: Templates,
    pub clock: Arc<dyn Clock>,
    /// Encrypts and authenticates the cookies. Generated at start: the sessions live in memory and
    /// end with the process anyway, so a persistent key would buy nothing.
    pub cookie_key: Key,
    csp: HeaderValue,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let provider = Provider::new(&config, Arc::clone(&clock))?;
        let templates = Templates::load()?;
        let cookie_key = Key::try_generate().ok_or_else(|| anyhow::anyhow!("no randomness for the cookie key"))?;
        let csp = HeaderValue::from_str(&content_security_policy(&config))?;
        Ok(Self(Arc::new(Inner {
            sessions: SessionStore::new(config.idle_timeout),
            config,
            provider,
            templates,
            clock,
            cookie_key,
            csp,
        })))
    }
}

/// The one place every route is listed.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::index_get))
        .route("/login", post(pages::login_post))
        .route("/callback", get(pages::callback_get))
        .route("/protected", get(pages::protected_get))
        .route("/logout", post(pages::logout_post))
        .route("/style.css", get(pages::stylesheet_get))
        .fallback(pages::not_found)
        .layer(CookieManagerLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .with_state(state)
}

/// No scripts at all; forms may post here and, through the redirects that follow them, lead to
/// the provider (browsers apply `form-action` to the redirects after a submission as well).
fn content_security_policy(config: &Config) -> String {
    format!(
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
         form-action 'self' {}; frame-ancestors 'none'",
        config.issuer.origin().ascii_serialization()
    )
}

/// Headers on every response, like the provider's. Pages show personal data, so nothing is cached
/// unless a handler says otherwise (the stylesheet).
async fn security_headers(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        headers.entry(name).or_insert(value);
    };
    set(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(header::CONTENT_SECURITY_POLICY, app.csp.clone());
    set(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    set(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if app.config.https() {
        set(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    response
}
