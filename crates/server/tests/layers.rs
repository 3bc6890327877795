//! The middleware stack every route runs under (`latchkey_server::app::with_layers`, which
//! `router` uses): a handler that panics becomes a logged 500 carrying the request id, the server
//! keeps serving, HSTS is sent exactly when the issuer is https, and every cookie is then `Secure`
//! with the `__Host-` prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use common::{send, test_app};
use latchkey_server::AppState;
use latchkey_server::app::with_layers;
use tower::ServiceExt as _;

const PASSWORD: &str = "violet-tractor-sunrise-917";

/// Log lines written while a test runs (a `tracing` writer into memory).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn boom() -> &'static str {
    panic!("the secret detail of a bug")
}

async fn owned_boom() -> &'static str {
    panic!("{}", String::from("an owned panic message"))
}

/// The production stack over two routes that panic (a page and an API path) and one that works.
fn panicking_app(state: AppState) -> Router {
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/admin/api/boom", get(owned_boom))
        .route("/fine", get(|| async { "fine" }));
    with_layers(routes, state)
}

async fn call(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_logged_500_with_the_request_id() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    // The test runs on one thread (tokio's current-thread test runtime), so this covers every handler.
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = test_app(|_| {}).await;
    let app = panicking_app(t.app.clone());

    // A page: the HTML error page with the request id, no panic message, the security headers.
    let (status, headers, body) = call(&app, "/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{headers:?}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(body.contains("Something went wrong") && body.contains(&id), "{body}");
    assert!(!body.contains("secret detail"), "the panic message stays in the log: {body}");
    let logged = log.text();
    let line = logged.lines().find(|l| l.contains("handler panicked")).unwrap_or_else(|| panic!("{logged}"));
    assert!(line.contains(&id) && line.contains("the secret detail of a bug"), "{line}");

    // An API path: a JSON error (RFC 6749 style), the same request id in the log.
    let (status, headers, body) = call(&app, "/admin/api/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{headers:?}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "server_error", "{json}");
    assert!(!body.contains("owned panic message"), "{body}");
    let api_id = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(api_id, id, "each request has its own id");
    assert!(log.text().lines().any(|l| l.contains(&api_id) && l.contains("an owned panic message")), "{}", log.text());

    // Nothing is broken for the next request.
    let (status, _, body) = call(&app, "/fine").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fine"));
}

/// A server whose issuer is `https://id.example.com` (behind a TLS-terminating proxy, say).
async fn https_app() -> common::TestApp {
    common::test_app_with_config(|config| config.issuer = "https://id.example.com".parse().unwrap()).await
}

/// Every cookie set (or removed) under an https issuer: `__Host-` name, `Secure`, `HttpOnly`,
/// `Path=/`, no `Domain`. Returns `name=value` for the next request.
fn host_cookies(reply: &common::Reply) -> Vec<String> {
    let lines = reply.set_cookies();
    for line in &lines {
        assert!(line.starts_with("__Host-latchkey_"), "{line}");
        for attribute in ["; Secure", "; HttpOnly", "; Path=/"] {
            assert!(line.contains(attribute), "{attribute} missing: {line}");
        }
        assert!(!line.to_ascii_lowercase().contains("domain="), "{line}");
    }
    lines.iter().map(|l| l.split(';').next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_https_issuer_sets_only_host_prefixed_secure_cookies() {
    let common::TestApp { app, dir: _dir, .. } = https_app().await;
    let get = |path: &str, cookie: &str| {
        let mut request = Request::get(path).header(header::HOST, "id.example.com");
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Body::empty()).unwrap()
    };
    let post = |path: &str, cookie: &str, fields: &[(&str, &str)]| {
        Request::post(path)
            .header(header::HOST, "id.example.com")
            .header(header::ORIGIN, "https://id.example.com")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(common::form(fields)))
            .unwrap()
    };
    let page = send(&app, get("/signup", "")).await;
    let jar = host_cookies(&page);
    assert!(jar.iter().any(|c| c.starts_with("__Host-latchkey_csrf=")), "{jar:?}");
    let token = page.csrf_token();
    let fields = [
        ("username", "hana"),
        ("email", "hana@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("csrf_token", &token),
    ];
    let signed_up = send(&app, post("/signup", &jar.join("; "), &fields)).await;
    assert_eq!(signed_up.status, StatusCode::SEE_OTHER, "{}", signed_up.body);
    let set = host_cookies(&signed_up);
    for name in ["__Host-latchkey_session=", "__Host-latchkey_device=", "__Host-latchkey_flash="] {
        assert!(set.iter().any(|c| c.starts_with(name)), "{name} in {set:?}");
    }
    let session = set.iter().find(|c| c.starts_with("__Host-latchkey_session=")).unwrap();
    let csrf = jar.iter().find(|c| c.starts_with("__Host-latchkey_csrf=")).unwrap();
    let cookie = format!("{session}; {csrf}");
    let account = send(&app, get("/account", &cookie)).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.body);
    host_cookies(&account);

    // Signing out removes the session cookie with the same attributes (a removal without `Secure`
    // would itself be refused by the browser).
    let token = send(&app, get("/logout", &cookie)).await.csrf_token();
    let out = send(&app, post("/logout", &cookie, &[("csrf_token", &token)])).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(out.body.contains("Signed out"), "{}", out.body);
    let removed = host_cookies(&out);
    assert!(removed.iter().any(|c| c == "__Host-latchkey_session="), "{removed:?}");
}

#[tokio::test]
async fn hsts_is_sent_exactly_when_the_issuer_is_https() {
    let plain = test_app(|_| {}).await;
    let reply = send(&plain.app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert!(reply.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(), "{:?}", reply.headers);

    let common::TestApp { app, dir: _dir, .. } = https_app().await;
    // On every response: a probe, a page, an error page, an API error.
    for path in ["/healthz", "/login", "/no/such/page", "/userinfo"] {
        let reply = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(
            reply.headers.get(header::STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap()),
            Some("max-age=63072000; includeSubDomains"),
            "{path}: {:?}",
            reply.headers
        );
    }
}
