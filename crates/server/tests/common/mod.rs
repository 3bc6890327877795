//! What the handler tests share (`mod common;` in each): the application state on in-memory SQLite
//! with a fixed clock and cheap password hashing, fixtures (a client, an account, a refresh token),
//! requests through the real router (`router(state).oneshot`, no socket) and their replies, and a
//! browser that keeps cookies between requests.
//!
//! Each test file uses a part of it, so unused items are not warnings here.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt as _;
use latchkey_core::FixedClock;
use latchkey_core::model::{
    AccountId, Client, ClientId, GrantType, NewAccount, RefreshToken, TokenEndpointAuthMethod, TokenFamilyId,
};
use latchkey_core::secret::TokenHash;
use latchkey_server::config::{Config, PasswordConfig};
use latchkey_server::serve::build_state;
use latchkey_server::{AppState, router};
use serde_json::Value;
use tower::ServiceExt as _;
use url::Url;

/// The fixed clock's starting time.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

/// The application state of one test server, its clock and its data directory.
pub struct TestApp {
    pub app: AppState,
    pub clock: Arc<FixedClock>,
    pub dir: tempfile::TempDir,
}

/// A fresh server state on in-memory SQLite at [`t0`], with cheap password hashing unless `adjust`
/// says otherwise.
pub async fn test_app(adjust: impl FnOnce(&mut PasswordConfig)) -> TestApp {
    test_app_with_config(|config| adjust(&mut config.passwords)).await
}

/// [`test_app`] with any part of the configuration changed by `adjust` (the issuer, say).
pub async fn test_app_with_config(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.passwords.argon2_memory_kib = 1024;
    config.passwords.argon2_iterations = 1;
    adjust(&mut config);
    let clock = Arc::new(FixedClock::new(t0()));
    let store = latchkey_store::testing::sqlite_memory().await;
    let app = build_state(config, store, clock.clone()).await.unwrap();
    TestApp { app, clock, dir }
}

/// A confidential client `id` (Basic authentication, no secret yet) for the code and refresh
/// grants, redirecting to `https://app.example/cb`; tests change fields with `..client(id)`.
pub fn client(id: &str) -> Client {
    Client {
        id: ClientId(id.into()),
        secret_hash: None,
        name: id.into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
        public: false,
        first_party: false,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        id_token_lifetime: None,
        id_token_signed_response_alg: "RS256".into(),
        from_config: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// A verified account `username` (`username@example.com`) without a password or display name.
pub fn new_account(username: &str) -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        username: username.into(),
        email: format!("{username}@example.com"),
        email_verified: true,
        password_hash: None,
        display_name: None,
    }
}

/// A live refresh token of `family`, issued at [`t0`] (30 days, the family 90), as the code flow
/// stores it.
pub fn refresh_token(
    token_hash: TokenHash,
    family_id: TokenFamilyId,
    client: &str,
    account_id: AccountId,
    scopes: Vec<String>,
) -> RefreshToken {
    RefreshToken {
        token_hash,
        family_id,
        parent_hash: None,
        client_id: ClientId(client.into()),
        account_id,
        session_id: None,
        scopes,
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
        family_expires_at: t0() + Duration::days(90),
        used_at: None,
        revoked_at: None,
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `fields` as a form body.
pub fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

/// A request with an optional `Cookie`, an optional `Authorization` and an optional form body.
pub fn request(
    method: Method,
    path: &str,
    cookie: Option<&str>,
    auth: Option<&str>,
    form: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

/// Sends `request` through the real router of `app`.
pub async fn send(app: &AppState, request: Request<Body>) -> Reply {
    let res = router(app.clone()).oneshot(request).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// What the router answered.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `Location` header, if any.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header as a URL (a relative one resolved against `http://local`).
    pub fn redirect(&self) -> Url {
        let loc = self.location().unwrap_or_else(|| panic!("no Location: {}", self.body));
        Url::parse(loc).or_else(|_| Url::parse("http://local").unwrap().join(loc)).unwrap()
    }

    /// A query parameter of the `Location` header.
    pub fn param(&self, name: &str) -> Option<String> {
        self.redirect().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The body as JSON (`null` when it is empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Every `Set-Cookie` header, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// Whether the reply says `Cache-Control: no-store`.
    pub fn no_store(&self) -> bool {
        self.headers.get(header::CACHE_CONTROL).is_some_and(|v| v == "no-store")
    }

    /// The value of the first input `name`, with tera's attribute escaping undone for the few
    /// characters these values contain (`=`, `/`, `&`).
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", self.body)) + marker.len();
        let raw = self.body[start..].split('"').next().unwrap();
        raw.replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
    }

    /// The page's CSRF token.
    pub fn csrf_token(&self) -> String {
        self.hidden("csrf_token")
    }
}

/// A browser on one server: keeps the cookies the server sets (and drops the ones it clears),
/// sends them back with every request from `127.0.0.1:8080`, and posts forms with that `Origin`.
pub struct Browser {
    pub app: AppState,
    cookies: BTreeMap<String, String>,
    user_agent: Option<String>,
}

impl Browser {
    /// A browser without cookies; `user_agent` is sent when given.
    pub fn new(app: &AppState, user_agent: Option<&str>) -> Self {
        Self { app: app.clone(), cookies: BTreeMap::new(), user_agent: user_agent.map(str::to_owned) }
    }

    /// Sends `request` with this browser's cookies (and `body` as a form); a 500 fails the test.
    pub async fn send(&mut self, request: axum::http::request::Builder, body: Option<String>) -> Reply {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut request = request.header(header::HOST, "127.0.0.1:8080");
        if let Some(user_agent) = &self.user_agent {
            request = request.header(header::USER_AGENT, user_agent);
        }
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, "http://127.0.0.1:8080")
                .body(Body::from(body))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let reply = send(&self.app, request).await;
        for line in reply.set_cookies() {
            let (name, value) = line.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        assert_ne!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.body);
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Request::get(path), None).await
    }

    /// Loads `page` for a CSRF token and posts `fields` with it to `action`.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.get(page).await.csrf_token();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.send(Request::post(action), Some(form(&all))).await
    }

    /// Signs in through the sign-in form; fails the test unless it redirects (a success).
    pub async fn sign_in(&mut self, login: &str, password: &str) -> Reply {
        let reply = self.submit("/login", "/login", &[("login", login), ("password", password)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "sign-in of {login}: {}", reply.body);
        reply
    }

    /// Whether `/account` opens.
    pub async fn signed_in(&mut self) -> bool {
        self.get("/account").await.status == StatusCode::OK
    }
}
