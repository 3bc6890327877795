//! `router(state)`: the one place every route is listed, with the layers every request passes.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::HandlerWithoutStateExt as _;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower::{Layer as _, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http::error::PageError;
use crate::http::{account, health, layers, login, logout, metrics, paths, signup};
use crate::state::AppState;
use crate::templates::STYLESHEET;

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(paths::HEALTHZ, get(health::healthz_get))
        .route(paths::READYZ, get(health::readyz_get))
        .route(paths::METRICS, get(metrics::metrics_get))
        .route(paths::STYLESHEET, get(stylesheet_get))
        .route(paths::ROOT, get(account::root_get))
        .route(paths::SIGNUP, get(signup::signup_get).post(signup::signup_post))
        .route(paths::LOGIN, get(login::login_get).post(login::login_post))
        .route(paths::LOGOUT, get(logout::logout_get).post(logout::logout_post))
        .merge(account_routes())
        .merge(authorization_routes())
        // The admin console and API, and the first-administrator setup page (each handler checks the admin role).
        .merge(crate::http::admin::routes())
        .merge(metadata_routes())
        .merge(oauth_routes(&state))
        .route_layer(from_fn(metrics::track))
        // Counted too (as route "unmatched"): a scan for admin pages shows in the 404 rate.
        .fallback_service(from_fn(metrics::track).layer((|| async { PageError::NotFound }).into_service()));
    with_layers(routes, state)
}

/// The middleware every route of [`router`] runs under. Separate so that a test can put a route of
/// its own (one that panics, say) under exactly the production stack.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let http = &state.config.http;
    // Outermost first: the request id exists before anything logs, and every response (even a
    // panic's or a timeout's) gets the error page and the security headers.
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(layers::REQUEST_ID, layers::MakeRequestIdSeq))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(layers::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: query strings can carry codes and tokens.
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(layers::REQUEST_ID))
        // Security headers, error pages and the panic catcher, in one layer.
        .layer(from_fn_with_state(state.clone(), layers::responses))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, http.request_timeout))
        .layer(RequestBodyLimitLayer::new(http.body_limit))
        .layer(DefaultBodyLimit::max(http.body_limit))
        // Innermost, so every handler and extractor shares one cookie jar per request.
        .layer(tower_cookies::CookieManagerLayer::new());

    routes.layer(layers).with_state(state)
}

/// Discovery and JWKS: documents served from memory, GET only. Outside `oauth_routes`, so the most
/// requested endpoints skip a form layer they never need (each layer costs per request).
fn metadata_routes() -> Router<AppState> {
    use crate::http::{discovery, jwks};
    Router::new()
        .route(paths::OPENID_CONFIGURATION, get(discovery::openid_configuration_get))
        .route(paths::OAUTH_AUTHORIZATION_SERVER, get(discovery::authorization_server_metadata_get))
        .route(paths::JWKS, get(jwks::jwks_get))
}

/// The OpenID Connect and OAuth 2.0 endpoints. The POST ones read their form body once, in the
/// `oauth_form` layer, so client authentication and the parameters can both be extracted.
fn oauth_routes(state: &AppState) -> Router<AppState> {
    use crate::http::{client_auth, introspect, revoke, token, userinfo};
    Router::new()
        .route(paths::TOKEN, post(token::token_post))
        .route(paths::USERINFO, get(userinfo::userinfo_get).post(userinfo::userinfo_post))
        .route(paths::INTROSPECT, post(introspect::introspect_post))
        .route(paths::REVOKE, post(revoke::revoke_post))
        .route_layer(from_fn_with_state(state.clone(), client_auth::oauth_form))
}

/// The account console: a signed-in person's own profile, password, sessions, connected
/// applications and activity. Every page needs a session; every form posts with a CSRF token.
fn account_routes() -> Router<AppState> {
    use crate::http::account::{activity, apps, password, profile, sessions};
    Router::new()
        .route(paths::ACCOUNT, get(account::account_get))
        .route(paths::ACCOUNT_PROFILE, get(profile::profile_get).post(profile::profile_post))
        .route(paths::ACCOUNT_PASSWORD, get(password::password_get).post(password::password_post))
        .route(paths::ACCOUNT_SESSIONS, get(sessions::sessions_get))
        .route(paths::ACCOUNT_SESSIONS_END, post(sessions::session_end_post))
        .route(paths::ACCOUNT_SESSIONS_END_OTHERS, post(sessions::sessions_end_others_post))
        .route(paths::ACCOUNT_APPS, get(apps::apps_get))
        .route(paths::ACCOUNT_APPS_REVOKE, post(apps::app_revoke_post))
        .route(paths::ACCOUNT_ACTIVITY, get(activity::activity_get))
}

/// The browser-facing OpenID Connect pages: they answer with HTML pages and redirects (never the
/// JSON of `oauth_routes`), and read their own bodies.
fn authorization_routes() -> Router<AppState> {
    use crate::http::{authorize, consent, end_session};
    Router::new()
        .route(paths::AUTHORIZE, get(authorize::authorize_get).post(authorize::authorize_post))
        .route(paths::CONSENT, post(consent::consent_post))
        .route(paths::END_SESSION, get(end_session::end_session_get).post(end_session::end_session_post))
        .route(paths::END_SESSION_CONFIRM, post(end_session::end_session_confirm_post))
}

async fn stylesheet_get() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        STYLESHEET,
    )
}
