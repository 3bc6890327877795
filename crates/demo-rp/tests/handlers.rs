//! The demo's pages through `router(state).oneshot(..)`, against a fake provider on 127.0.0.1:
//! the signed-out pages, the whole sign-in (callback happy path), every callback failure page,
//! the protected page's redirects and idle expiry (with a moved clock), and sign-out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_provider;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fake_provider::{FakeProvider, Misbehave};
use http_body_util::BodyExt as _;
use latchkey_demo_rp::clock::FixedClock;
use latchkey_demo_rp::config::Config;
use latchkey_demo_rp::{AppState, router};
use tower::ServiceExt as _;

/// A browser in miniature: keeps the cookies the app sets and sends them back.
struct Client {
    app: Router,
    state: AppState,
    clock: Arc<FixedClock>,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> String {
        self.headers.get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    /// The value of the first hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{}", self.body)) + marker.len();
        // What the browser would submit: the attribute with tera's escapes undone.
        let raw = self.body[start..].split('"').next().unwrap();
        raw.replace("&#x2F;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }
}

impl Client {
    fn new(issuer: &str, customize: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config { issuer: issuer.parse().unwrap(), ..Config::default() };
        customize(&mut config);
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let state = AppState::new(config, clock.clone()).unwrap();
        Self { app: router(state.clone()), state, clock, cookies: BTreeMap::new() }
    }

    async fn send(&mut self, request: Request<Body>) -> Page {
        let (mut parts, body) = request.into_parts();
        if !self.cookies.is_empty() {
            let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            parts.headers.insert(header::COOKIE, cookie.parse().unwrap());
        }
        let response = self.app.clone().oneshot(Request::from_parts(parts, body)).await.unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite=Lax"), "{set}");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        Page { status, headers, body }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded_pairs(form);
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Opens `/`, presses "Sign in with Latchkey" and returns the authorization URL it leads to.
    async fn start_sign_in(&mut self) -> String {
        let home = self.get("/").await;
        let token = home.hidden("csrf_token");
        let return_to = home.hidden("return_to");
        let page = self.post("/login", &[("csrf_token", &token), ("return_to", &return_to)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        page.location()
    }

    /// A complete sign-in; returns the page the callback redirected to.
    async fn sign_in(&mut self, provider: &FakeProvider) -> Page {
        let authorize = self.start_sign_in().await;
        let query = provider.issue_code(&authorize);
        self.get(&format!("/callback?{query}")).await
    }
}

fn serde_urlencoded_pairs(form: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(form);
    url.query().unwrap_or_default().to_owned()
}

/// The error page: its status, that it says what happened, and that it offers to try again.
fn assert_error_page(page: &Page, status: StatusCode, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(says), "expected {says:?} in:\n{}", page.body);
    assert!(page.body.contains(">Try again</button>"), "{}", page.body);
    assert!(page.body.contains("action=\"/login\""));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn signed_out_home_page_explains_and_offers_sign_in() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let page = c.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">Sign in with Latchkey</button>"));
    assert!(page.body.contains("method=\"post\" action=\"/login\""));
    assert!(!page.hidden("csrf_token").is_empty());
    assert_eq!(page.hidden("return_to"), "/protected");
    // Security headers, as on the provider.
    let h = &page.headers;
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains(&format!("form-action 'self' {}", provider.issuer())), "{csp}");
    // Only the CSRF cookie so far; no session for an anonymous visitor.
    assert_eq!(c.cookies.keys().collect::<Vec<_>>(), ["demo_rp_csrf"]);
    assert!(c.state.sessions.is_empty());

    let css = c.get("/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    let missing = c.get("/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Page not found"));
}

#[tokio::test]
async fn sign_in_verifies_the_tokens_and_shows_the_protected_page() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let landed = c.sign_in(&provider).await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER, "{}", landed.body);
    assert_eq!(landed.location(), "/protected");
    assert!(c.cookies.contains_key("demo_rp_session"));
    assert!(!c.cookies.contains_key("demo_rp_login"), "the sign-in attempt is used up");
    // The PKCE verifier went to the token endpoint.
    let requests = provider.shared.token_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(requests[0]["code_verifier"].len() >= 43);

    let page = c.get("/protected").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    for text in ["Ada Lovelace", "ada@example.com", "admin, reader", "subject-ada", "provider-session-1", "at_hash"] {
        assert!(page.body.contains(text), "{text} in:\n{}", page.body);
    }
    assert!(page.body.contains("Ends at"), "shows when the session expires");
    // Tokens never reach the browser: neither the ID token (three base64url parts) nor the
    // access token appears in the page or a cookie.
    assert!(!page.body.contains("eyJ"), "no JWT in the page");
    assert!(c.cookies.values().all(|v| !v.contains("eyJ")));

    // Signed in, the home page greets instead of offering to sign in.
    let home = c.get("/").await;
    assert!(home.body.contains("Hello, Ada Lovelace"), "{}", home.body);
    assert!(home.body.contains("href=\"/protected\""));
    assert!(home.body.contains("action=\"/logout\""));
}

#[tokio::test]
async fn the_session_slides_and_expires_after_an_idle_hour() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    c.sign_in(&provider).await;
    // 59 minutes idle: still valid, and the visit slides the session.
    c.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(c.get("/protected").await.status, StatusCode::OK);
    c.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(c.get("/protected").await.status, StatusCode::OK);
    // 61 minutes idle: expired.
    c.clock.advance(chrono::Duration::minutes(61));
    let page = c.get("/protected").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/?notice=expired&return_to=%2Fprotected");
    assert!(!c.cookies.contains_key("demo_rp_session"));
    let home = c.get(&page.location()).await;
    assert!(home.body.contains("Your session expired"), "{}", home.body);
    assert!(c.state.sessions.is_empty());
}

#[tokio::test]
async fn a_short_configured_idle_timeout_applies() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |config| config.idle_timeout = std::time::Duration::from_secs(30));
    c.sign_in(&provider).await;
    c.clock.advance(chrono::Duration::seconds(29));
    assert_eq!(c.get("/protected").await.status, StatusCode::OK);
    c.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(c.get("/protected").await.location(), "/?notice=expired&return_to=%2Fprotected");
}

#[tokio::test]
async fn protected_page_without_a_session_redirects_to_sign_in() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let page = c.get("/protected").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/?notice=signin_required&return_to=%2Fprotected");
    let home = c.get(&page.location()).await;
    assert!(home.body.contains("Please sign in"), "{}", home.body);
    assert_eq!(home.hidden("return_to"), "/protected");

    // A made-up session cookie is no better than none.
    c.cookies.insert("demo_rp_session".into(), "made-up".into());
    assert_eq!(c.get("/protected").await.location(), "/?notice=signin_required&return_to=%2Fprotected");
}

#[tokio::test]
async fn login_and_logout_require_the_csrf_token() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    // No token, a wrong token, or a token without the browser's cookie: refused, nothing started.
    let page = c.post("/login", &[]).await;
    assert_error_page(&page, StatusCode::FORBIDDEN, "This form has expired");
    let page = c.post("/login", &[("csrf_token", "guess")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let token = c.get("/").await.hidden("csrf_token");
    let mut other_browser = Client::new(&provider.issuer(), |_| {});
    other_browser.app = c.app.clone();
    assert_eq!(other_browser.post("/login", &[("csrf_token", &token)]).await.status, StatusCode::FORBIDDEN);
    assert!(!c.cookies.contains_key("demo_rp_login"));

    c.sign_in(&provider).await;
    let page = c.post("/logout", &[("csrf_token", "guess")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(c.get("/protected").await.status, StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn the_return_to_page_is_local_only() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let token = c.get("/?return_to=//evil.example/").await.hidden("csrf_token");
    let home = c.get("/?return_to=//evil.example/").await;
    assert_eq!(home.hidden("return_to"), "/protected", "an off-site return_to is not echoed");
    let page = c.post("/login", &[("csrf_token", &token), ("return_to", "https://evil.example/")]).await;
    let query = provider.issue_code(&page.location());
    assert_eq!(c.get(&format!("/callback?{query}")).await.location(), "/protected");

    let page = c.post("/login", &[("csrf_token", &token), ("return_to", "/")]).await;
    let query = provider.issue_code(&page.location());
    assert_eq!(c.get(&format!("/callback?{query}")).await.location(), "/");
}

#[tokio::test]
async fn access_denied_shows_the_cancelled_page() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let state: String =
        url::Url::parse(&authorize).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into();
    let page = c
        .get(&format!(
            "/callback?error=access_denied&error_description=The+person+declined&state={state}&iss={}",
            provider.issuer()
        ))
        .await;
    assert_error_page(&page, StatusCode::FORBIDDEN, "Sign-in cancelled");
    assert!(page.body.contains("access_denied: The person declined"), "{}", page.body);
    assert!(c.state.sessions.is_empty());
    assert!(provider.shared.token_requests.lock().unwrap().is_empty(), "no code was exchanged");
}

#[tokio::test]
async fn other_provider_errors_are_shown_escaped() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let state: String =
        url::Url::parse(&authorize).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into();
    let page =
        c.get(&format!("/callback?error=invalid_scope&error_description=%3Cb%3Ebad%3C%2Fb%3E&state={state}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "Sign-in failed");
    assert!(page.body.contains("invalid_scope: &lt;b&gt;bad&lt;&#x2F;b&gt;"), "{}", page.body);
}

#[tokio::test]
async fn a_tampered_state_is_rejected_and_nothing_is_exchanged() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let query = provider.issue_code(&authorize);
    let tampered = query.replacen("state=", "state=x", 1);
    let page = c.get(&format!("/callback?{tampered}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "does not match");
    assert!(provider.shared.token_requests.lock().unwrap().is_empty());
    assert!(c.state.sessions.is_empty());
    // The attempt is used up: the right state no longer works either.
    let page = c.get(&format!("/callback?{query}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "No sign-in in progress");
}

#[tokio::test]
async fn a_missing_state_is_rejected() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let query = provider.issue_code(&authorize);
    let code: String = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code").unwrap().1.into();
    let page = c.get(&format!("/callback?code={code}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "without state");
    let page = c.get("/callback").await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "without state");
    assert!(provider.shared.token_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_callback_in_another_browser_is_rejected() {
    let provider = FakeProvider::start().await;
    let mut victim = Client::new(&provider.issuer(), |_| {});
    let authorize = victim.start_sign_in().await;
    let query = provider.issue_code(&authorize);
    // Login CSRF: the attacker's code and state, delivered to a browser that never started a sign-in.
    let mut other = Client::new(&provider.issuer(), |_| {});
    other.app = victim.app.clone();
    let page = other.get(&format!("/callback?{query}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "No sign-in in progress");
}

#[tokio::test]
async fn a_response_naming_another_issuer_is_rejected() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let query = provider.issue_code(&authorize).replace("iss=", "iss=http%3A%2F%2Fevil.example&was=");
    let page = c.get(&format!("/callback?{query}")).await;
    assert_error_page(&page, StatusCode::BAD_REQUEST, "wrong provider");
}

#[tokio::test]
async fn invalid_id_tokens_are_rejected() {
    for how in [
        Misbehave::WrongNonce,
        Misbehave::WrongAudience,
        Misbehave::WrongIssuer,
        Misbehave::Expired,
        Misbehave::BadSignature,
        Misbehave::WrongAtHash,
    ] {
        let provider = FakeProvider::start().await;
        provider.misbehave(how);
        let mut c = Client::new(&provider.issuer(), |_| {});
        let page = c.sign_in(&provider).await;
        assert_error_page(&page, StatusCode::BAD_GATEWAY, "could not be verified");
        assert!(c.state.sessions.is_empty(), "{how:?}");
        assert!(!c.cookies.contains_key("demo_rp_session"), "{how:?}");
    }
}

#[tokio::test]
async fn a_refused_code_and_a_userinfo_for_someone_else_are_errors() {
    let provider = FakeProvider::start().await;
    provider.misbehave(Misbehave::RefuseCode);
    let mut c = Client::new(&provider.issuer(), |_| {});
    let page = c.sign_in(&provider).await;
    assert_error_page(&page, StatusCode::BAD_GATEWAY, "did not accept the sign-in");
    assert!(page.body.contains("invalid_grant"));

    provider.misbehave(Misbehave::OtherSubjectInUserinfo);
    let page = c.sign_in(&provider).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(c.state.sessions.is_empty());
}

#[tokio::test]
async fn provider_down_at_callback_time_shows_unreachable() {
    let mut provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    let authorize = c.start_sign_in().await;
    let query = provider.issue_code(&authorize);
    provider.stop().await;
    let page = c.get(&format!("/callback?{query}")).await;
    assert_error_page(&page, StatusCode::SERVICE_UNAVAILABLE, "Latchkey is not reachable");
    assert!(c.state.sessions.is_empty());
}

#[tokio::test]
async fn the_demo_starts_before_the_provider_and_discovers_on_first_use() {
    // Reserve an address, then leave it closed: the provider is "not up yet".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut c = Client::new(&format!("http://{addr}"), |_| {});
    let home = c.get("/").await;
    assert!(home.body.contains("has not answered yet"), "{}", home.body);
    let token = home.hidden("csrf_token");
    let page = c.post("/login", &[("csrf_token", &token)]).await;
    assert_error_page(&page, StatusCode::SERVICE_UNAVAILABLE, "Latchkey is not reachable");

    // The provider comes up; the next sign-in discovers it lazily.
    let provider = FakeProvider::start_on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    let landed = c.sign_in(&provider).await;
    assert_eq!(landed.location(), "/protected", "{}", landed.body);
    assert!(!c.get("/").await.body.contains("has not answered yet"));
}

#[tokio::test]
async fn sign_out_ends_the_session_and_visits_the_end_session_endpoint() {
    let provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |_| {});
    c.sign_in(&provider).await;
    let token = c.get("/protected").await.hidden("csrf_token");
    let page = c.post("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let url = url::Url::parse(&page.location()).unwrap();
    assert_eq!(url.as_str().split('?').next().unwrap(), format!("{}/end_session", provider.issuer()));
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], "http://127.0.0.1:8081/");
    assert_eq!(q["client_id"], "demo-rp");
    assert_eq!(q["id_token_hint"].split('.').count(), 3);
    assert!(q["state"].len() >= 16);
    // The app's session is gone at once.
    assert!(c.state.sessions.is_empty());
    assert!(!c.cookies.contains_key("demo_rp_session"));
    assert_eq!(c.get("/protected").await.status, StatusCode::SEE_OTHER);

    // The provider sends the browser back with the state: "You have been signed out".
    let back = c.get(&format!("/?state={}", q["state"])).await;
    assert!(back.body.contains("You have been signed out"), "{}", back.body);
    // A made-up state gets no such message.
    let forged = c.get("/?state=forged").await;
    assert!(!forged.body.contains("You have been signed out"));
}

#[tokio::test]
async fn sign_out_when_the_provider_is_down_still_ends_the_app_session() {
    let mut provider = FakeProvider::start().await;
    let mut c = Client::new(&provider.issuer(), |config| config.idle_timeout = std::time::Duration::from_secs(3600));
    c.sign_in(&provider).await;
    let token = c.get("/protected").await.hidden("csrf_token");
    provider.stop().await;
    // Building the logout URL needs no network while the metadata is fresh.
    let page = c.post("/logout", &[("csrf_token", &token)]).await;
    assert!(page.location().starts_with(&format!("{}/end_session?", provider.issuer())), "{}", page.location());
    assert!(c.state.sessions.is_empty());
}
