//! The OpenID Connect rules of part B through the real router (`router(state).oneshot`, no socket)
//! on in-memory SQLite with a fixed clock: the authorization endpoint (error page vs redirect,
//! PKCE, prompt, max_age, id_token_hint), consent, the authorization_code and refresh_token grants
//! (replay and reuse revocation, expiry) and RP-initiated logout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use common::{Reply, enc, t0};
use latchkey_core::FixedClock;
use latchkey_core::model::{AccountId, Client};
use latchkey_core::secret::Secret;
use latchkey_core::store::{AccountStore as _, ClientStore as _};
use latchkey_server::AppState;
use latchkey_server::auth::{RequestMeta, start_session};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const SECRET: &str = "client-secret-0123456789abcdef0123456789abcdef";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CSRF_COOKIE: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn client(id: &str, first_party: bool) -> Client {
    Client {
        secret_hash: Some(Secret::new(SECRET).hash()),
        name: format!("The {id} app"),
        redirect_uris: vec![format!("https://{id}.example/cb")],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        scopes: ["openid", "profile", "email", "offline_access", "roles"].map(String::from).to_vec(),
        first_party,
        ..common::client(id)
    }
}

struct Env {
    app: AppState,
    clock: Arc<FixedClock>,
    alice: AccountId,
    bob: AccountId,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Self {
        let common::TestApp { app, clock, dir } = common::test_app(|_| {}).await;
        app.store.insert_client(client("first", true)).await.unwrap();
        app.store.insert_client(client("third", false)).await.unwrap();
        let mut ids = Vec::new();
        for name in ["alice", "bob"] {
            let a = app.store.insert_account(common::new_account(name), t0()).await.unwrap();
            ids.push(a.id);
        }
        Self { app, clock, alice: ids[0], bob: ids[1], _dir: dir }
    }

    fn now(&self) -> DateTime<Utc> {
        use latchkey_core::Clock as _;
        self.clock.now()
    }

    fn advance(&self, secs: i64) {
        self.clock.set(self.now() + Duration::seconds(secs));
    }

    /// A fresh sign-in for `account`: the session cookie header value.
    async fn sign_in(&self, account: AccountId) -> String {
        let account = self.app.store.find_account(account).await.unwrap().unwrap();
        let (_, secret) = start_session(&self.app, &account, false, &RequestMeta::default(), self.now()).await.unwrap();
        format!("latchkey_session={}; latchkey_csrf={CSRF_COOKIE}", secret.expose())
    }

    fn csrf(&self) -> String {
        self.app.secrets.csrf_token(CSRF_COOKIE)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        auth: Option<&str>,
        form: Option<&str>,
    ) -> Reply {
        common::send(&self.app, common::request(method, path, cookie, auth, form)).await
    }

    async fn authorize(&self, cookie: Option<&str>, client: &str, extra: &[(&str, &str)]) -> Reply {
        let mut pairs = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client.to_owned()),
            ("redirect_uri", format!("https://{client}.example/cb")),
            ("scope", "openid profile offline_access".to_owned()),
            ("state", "st-1".to_owned()),
            ("nonce", "n-1".to_owned()),
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "S256".to_owned()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                pairs.push((k, (*v).to_owned()));
            }
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        self.send(Method::GET, &format!("/authorize?{}", query.join("&")), cookie, None, None).await
    }

    /// A code for `client` through the authorization endpoint (first party: no consent).
    async fn code(&self, cookie: &str, extra: &[(&str, &str)]) -> String {
        let r = self.authorize(Some(cookie), "first", extra).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.param("state").as_deref(), Some("st-1"));
        assert_eq!(r.param("iss").as_deref(), Some(self.app.oidc.issuer.as_str()));
        r.param("code").unwrap_or_else(|| panic!("no code: {}", r.redirect()))
    }

    async fn token(&self, client: &str, form: &str) -> Reply {
        let auth = format!("Basic {}", STANDARD.encode(format!("{client}:{SECRET}")));
        self.send(Method::POST, "/token", None, Some(&auth), Some(form)).await
    }

    async fn exchange(&self, code: &str, verifier: &str) -> Reply {
        let form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
            enc(code),
            enc("https://first.example/cb")
        );
        self.token("first", &form).await
    }

    async fn refresh(&self, token: &str) -> Reply {
        self.token("first", &format!("grant_type=refresh_token&refresh_token={}", enc(token))).await
    }

    async fn active(&self, token: &str) -> bool {
        let auth = format!("Basic {}", STANDARD.encode(format!("first:{SECRET}")));
        let r = self.send(Method::POST, "/introspect", None, Some(&auth), Some(&format!("token={}", enc(token)))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()["active"].as_bool().unwrap()
    }

    /// Code, exchange: the token response.
    async fn tokens(&self, cookie: &str) -> Value {
        let code = self.code(cookie, &[]).await;
        let r = self.exchange(&code, VERIFIER).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()
    }
}

fn assert_redirect_error(r: &Reply, redirect: &str, error: &str) {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.redirect();
    assert!(loc.as_str().starts_with(redirect), "{loc}");
    assert_eq!(r.param("error").as_deref(), Some(error), "{loc}");
    assert!(r.param("error_description").is_some());
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert!(r.param("iss").is_some());
    assert!(r.param("code").is_none());
}

fn assert_sent_to_login(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.redirect();
    assert_eq!(loc.path(), "/login", "{loc}");
    let back = r.param("return_to").unwrap();
    assert!(back.starts_with("/authorize?"), "{back}");
    back
}

fn assert_token_error(r: &Reply, code: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error"], code, "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn authorize_shows_error_page_for_unregistered_redirect() {
    let env = Env::new().await;
    for extra in [
        vec![("redirect_uri", "https://evil.example/cb")],
        vec![("redirect_uri", "https://first.example/cb/")],
        vec![("client_id", "nobody")],
    ] {
        let r = env.authorize(None, "first", &extra).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra:?}");
        assert!(r.headers.get(header::LOCATION).is_none(), "never redirected: {extra:?}");
        assert!(r.body.contains("<html"), "an HTML page");
    }
    // A repeated parameter: the page too (which redirect_uri would be trusted?).
    let r = env.send(Method::GET, "/authorize?client_id=first&client_id=third", None, None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.headers.get(header::LOCATION).is_none());
}

#[tokio::test]
async fn authorize_rejects_plain_pkce_and_missing_challenge() {
    let env = Env::new().await;
    let r = env.authorize(None, "first", &[("code_challenge", VERIFIER), ("code_challenge_method", "plain")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "invalid_request");
    let r = env.authorize(None, "first", &[("code_challenge", ""), ("code_challenge_method", "")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "invalid_request");
    let r = env.authorize(None, "first", &[("response_type", "token")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "unsupported_response_type");
}

#[tokio::test]
async fn authorize_prompt_none_without_session_is_login_required() {
    let env = Env::new().await;
    let r = env.authorize(None, "first", &[("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "login_required");
    // Without prompt=none: to the sign-in page, with login_hint passed on.
    let r = env.authorize(None, "first", &[("login_hint", "alice")]).await;
    assert_sent_to_login(&r);
    assert_eq!(r.param("login_hint").as_deref(), Some("alice"));
}

#[tokio::test]
async fn token_issues_id_token_access_and_refresh_tokens() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let body = env.tokens(&cookie).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile offline_access");
    assert!(body["refresh_token"].is_string());
    let id = body["id_token"].as_str().unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(id.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], env.alice.to_string());
    assert_eq!(claims["aud"], "first");
    assert_eq!(claims["azp"], "first");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["auth_time"], t0().timestamp());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["at_hash"].is_string() && claims["sid"].is_string());
    assert!(env.active(body["access_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn token_rejects_wrong_verifier_and_pkce_downgrade() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let code = env.code(&cookie, &[]).await;
    assert_token_error(&env.exchange(&code, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj").await, "invalid_grant");
    // The failed attempt consumed the code: the right verifier is too late now.
    assert_token_error(&env.exchange(&code, VERIFIER).await, "invalid_grant");
}

#[tokio::test]
async fn token_rejects_reused_code_and_revokes_the_first_tokens() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let code = env.code(&cookie, &[]).await;
    let first = env.exchange(&code, VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let (access, refresh) = (first.json()["access_token"].clone(), first.json()["refresh_token"].clone());
    assert!(env.active(access.as_str().unwrap()).await);
    let again = env.exchange(&code, VERIFIER).await;
    assert_token_error(&again, "invalid_grant");
    assert!(!env.active(access.as_str().unwrap()).await, "the first redemption's access token is revoked");
    assert!(!env.active(refresh.as_str().unwrap()).await, "and its refresh token");
    assert_token_error(&env.refresh(refresh.as_str().unwrap()).await, "invalid_grant");
}

#[tokio::test]
async fn token_rejects_expired_code() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let code = env.code(&cookie, &[]).await;
    env.advance(61);
    assert_token_error(&env.exchange(&code, VERIFIER).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let body = env.tokens(&cookie).await;
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();
    let at1 = body["access_token"].as_str().unwrap().to_owned();
    env.advance(10);
    let r = env.refresh(&rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let at2 = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert!(r.json()["id_token"].is_string(), "openid grant: a new ID token");
    // Scope can only narrow.
    let wider =
        env.token("first", &format!("grant_type=refresh_token&refresh_token={}&scope=openid+email", enc(&rt2))).await;
    assert_token_error(&wider, "invalid_scope");
    // Another client cannot use it.
    let other = env.token("third", &format!("grant_type=refresh_token&refresh_token={}", enc(&rt2))).await;
    assert_token_error(&other, "invalid_grant");
    // Inside the grace window a second use is refused, the family kept.
    env.advance(2);
    assert_token_error(&env.refresh(&rt1).await, "invalid_grant");
    assert!(env.active(&at2).await && env.active(&rt2).await);
    // After it: the family goes, live access tokens included.
    env.advance(10);
    assert_token_error(&env.refresh(&rt1).await, "invalid_grant");
    for t in [&at1, &at2, &rt2] {
        assert!(!env.active(t).await, "revoked at introspection");
    }
    assert_token_error(&env.refresh(&rt2).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_narrows_scope_and_respects_idle_expiry() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let rt = env.tokens(&cookie).await["refresh_token"].as_str().unwrap().to_owned();
    let r =
        env.token("first", &format!("grant_type=refresh_token&refresh_token={}&scope=offline_access", enc(&rt))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scope"], "offline_access");
    assert!(r.json().get("id_token").is_none(), "no openid, no ID token");
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    env.advance(31 * 86_400);
    assert_token_error(&env.refresh(&rt2).await, "invalid_grant");
}

#[tokio::test]
async fn authorize_max_age_forces_login_after_clock_moves() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let r = env.authorize(Some(&cookie), "first", &[("max_age", "1")]).await;
    assert!(r.param("code").is_some(), "just signed in: fine");
    env.advance(2);
    let r = env.authorize(Some(&cookie), "first", &[("max_age", "1")]).await;
    let back = assert_sent_to_login(&r);
    let r = env.authorize(Some(&cookie), "first", &[("max_age", "1"), ("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "login_required");
    // Signing in again (a new session) and following return_to completes the request, once.
    env.advance(5);
    let fresh = env.sign_in(env.alice).await;
    let r = env.send(Method::GET, &back, Some(&fresh), None, None).await;
    assert!(r.param("code").is_some(), "{}", r.redirect());
}

#[tokio::test]
async fn authorize_prompt_login_does_not_loop_and_marker_cannot_be_forged() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    env.advance(30);
    let back = assert_sent_to_login(&env.authorize(Some(&cookie), "first", &[("prompt", "login")]).await);
    // Coming back with the old session is not a fresh sign-in.
    assert_sent_to_login(&env.send(Method::GET, &back, Some(&cookie), None, None).await);
    let fresh = env.sign_in(env.alice).await;
    let r = env.send(Method::GET, &back, Some(&fresh), None, None).await;
    assert!(r.param("code").is_some(), "a fresh sign-in satisfies prompt=login: {}", r.redirect());
    // A marker moved to another request (here: another state) does not verify.
    let forged = back.replace("state=st-1", "state=st-2");
    assert_sent_to_login(&env.send(Method::GET, &forged, Some(&fresh), None, None).await);
}

/// An ID token for `account`, through the whole flow.
async fn id_token_of(env: &Env, account: AccountId) -> String {
    let cookie = env.sign_in(account).await;
    env.tokens(&cookie).await["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn authorize_id_token_hint_for_another_person() {
    let env = Env::new().await;
    let bobs = id_token_of(&env, env.bob).await;
    let alice = env.sign_in(env.alice).await;
    let r = env.authorize(Some(&alice), "first", &[("id_token_hint", &bobs), ("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "login_required");
    let r = env.authorize(Some(&alice), "first", &[("id_token_hint", &bobs)]).await;
    assert_sent_to_login(&r);
    // The matching person's hint passes, even after the hint expired.
    let alices = id_token_of(&env, env.alice).await;
    env.advance(2 * 3600);
    let alice = env.sign_in(env.alice).await;
    let r = env.authorize(Some(&alice), "first", &[("id_token_hint", &alices), ("prompt", "none")]).await;
    assert!(r.param("code").is_some(), "{}", r.redirect());
}

#[tokio::test]
async fn authorize_refuses_a_hint_issued_to_another_client() {
    let env = Env::new().await;
    // An ID token issued to "first" (its aud), presented by "third" for the same signed-in person.
    let hint = id_token_of(&env, env.alice).await;
    let cookie = env.sign_in(env.alice).await;
    for prompt in ["", "none"] {
        let r = env.authorize(Some(&cookie), "third", &[("id_token_hint", &hint), ("prompt", prompt)]).await;
        assert_redirect_error(&r, "https://third.example/cb", "invalid_request");
        assert!(r.param("error_description").unwrap().contains("another application"), "{}", r.redirect());
    }
    // The client it was issued to may present it.
    let r = env.authorize(Some(&cookie), "first", &[("id_token_hint", &hint), ("prompt", "none")]).await;
    assert!(r.param("code").is_some(), "{}", r.redirect());
}

#[tokio::test]
async fn authorize_issues_no_code_while_a_password_change_is_required() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    // A code issued before the administrator required the change can still be exchanged.
    let earlier = env.code(&cookie, &[]).await;
    env.app.store.set_password_change_required(env.alice, true, env.now()).await.unwrap();
    let r = env.authorize(Some(&cookie), "first", &[("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "interaction_required");
    for client in ["first", "third"] {
        let r = env.authorize(Some(&cookie), client, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.redirect().path(), "/account/password", "{client}");
        let back = r.param("return_to").unwrap();
        assert!(back.starts_with(&format!("/authorize?response_type=code&client_id={client}&")), "{back}");
        assert!(r.param("code").is_none());
    }
    let r = env.exchange(&earlier, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Refresh keeps working: the flag is not a revocation (docs/admin.md).
    let refreshed = env.refresh(r.json()["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    // Bob, without the flag, is unaffected.
    let bob = env.sign_in(env.bob).await;
    env.code(&bob, &[("prompt", "none")]).await;
}

#[tokio::test]
async fn authorize_rejects_tampered_and_alg_none_hints() {
    let env = Env::new().await;
    let hint = id_token_of(&env, env.alice).await;
    let cookie = env.sign_in(env.alice).await;
    let parts: Vec<&str> = hint.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = Value::String(env.bob.to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    header["alg"] = Value::String("none".into());
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()), parts[1]);
    for bad in [tampered.as_str(), none.as_str(), "not-a-jwt"] {
        let r = env.authorize(Some(&cookie), "first", &[("id_token_hint", bad)]).await;
        assert_redirect_error(&r, "https://first.example/cb", "invalid_request");
    }
}

#[tokio::test]
async fn consent_is_asked_remembered_and_bound_to_the_session() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let r = env.authorize(Some(&cookie), "third", &[("prompt", "none")]).await;
    assert_redirect_error(&r, "https://third.example/cb", "consent_required");
    let page = env.authorize(Some(&cookie), "third", &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("The third app") && page.body.contains("See your name and username"));
    let form = |decision: &str, page: &Reply| {
        format!(
            "csrf_token={}&request={}&issued_at={}&ticket={}&decision={decision}",
            enc(&env.csrf()),
            enc(&page.hidden("request")),
            page.hidden("issued_at"),
            enc(&page.hidden("ticket"))
        )
    };
    // Another person's browser cannot answer this page.
    let bob = env.sign_in(env.bob).await;
    let r = env.send(Method::POST, "/consent", Some(&bob), None, Some(&form("allow", &page))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nor without the CSRF token.
    let no_csrf = form("allow", &page).replace("csrf_token=", "x=");
    assert_eq!(
        env.send(Method::POST, "/consent", Some(&cookie), None, Some(&no_csrf)).await.status,
        StatusCode::FORBIDDEN
    );
    // Deny.
    let r = env.send(Method::POST, "/consent", Some(&cookie), None, Some(&form("deny", &page))).await;
    assert_redirect_error(&r, "https://third.example/cb", "access_denied");
    // Allow: a code, and the answer is remembered for these scopes.
    let r = env.send(Method::POST, "/consent", Some(&cookie), None, Some(&form("allow", &page))).await;
    assert!(r.param("code").is_some(), "{}", r.body);
    let r = env.authorize(Some(&cookie), "third", &[("prompt", "none"), ("scope", "openid profile")]).await;
    assert!(r.param("code").is_some(), "remembered");
    // New scopes, or prompt=consent: asked again.
    let r = env.authorize(Some(&cookie), "third", &[("scope", "openid email")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env.authorize(Some(&cookie), "third", &[("prompt", "consent")]).await;
    assert_eq!(r.status, StatusCode::OK);
    // An expired page is refused.
    env.advance(11 * 60);
    let cookie = env.sign_in(env.alice).await;
    let r = env.send(Method::POST, "/consent", Some(&cookie), None, Some(&form("allow", &page))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn end_session_with_hint_signs_out_and_redirects_with_state() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let hint = env.tokens(&cookie).await["id_token"].as_str().unwrap().to_owned();
    let path = format!(
        "/end_session?id_token_hint={}&post_logout_redirect_uri={}&state=bye-1",
        enc(&hint),
        enc("https://first.example/bye")
    );
    let r = env.send(Method::GET, &path, Some(&cookie), None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.redirect().as_str(), "https://first.example/bye?state=bye-1");
    let r = env.authorize(Some(&cookie), "first", &[("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "login_required");
}

#[tokio::test]
async fn end_session_without_hint_asks_first_and_refuses_unregistered_uris() {
    let env = Env::new().await;
    let cookie = env.sign_in(env.alice).await;
    let bad = format!("/end_session?client_id=first&post_logout_redirect_uri={}", enc("https://evil.example/"));
    let r = env.send(Method::GET, &bad, Some(&cookie), None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.headers.get(header::LOCATION).is_none());
    let no_client = format!("/end_session?post_logout_redirect_uri={}", enc("https://first.example/bye"));
    assert_eq!(env.send(Method::GET, &no_client, Some(&cookie), None, None).await.status, StatusCode::BAD_REQUEST);
    let tampered = "/end_session?id_token_hint=eyJhbGciOiJub25lIn0.e30.";
    assert_eq!(env.send(Method::GET, tampered, Some(&cookie), None, None).await.status, StatusCode::BAD_REQUEST);

    let ask =
        format!("/end_session?client_id=first&post_logout_redirect_uri={}&state=s9", enc("https://first.example/bye"));
    let page = env.send(Method::GET, &ask, Some(&cookie), None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Sign out of Latchkey?"));
    let r = env.authorize(Some(&cookie), "first", &[("prompt", "none")]).await;
    assert!(r.param("code").is_some(), "asking changed nothing");
    let form = format!(
        "client_id=first&post_logout_redirect_uri={}&state=s9&decision=logout",
        enc("https://first.example/bye")
    );
    let forged = env.send(Method::POST, "/end_session/confirm", Some(&cookie), None, Some(&form)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token");
    let form = format!("csrf_token={}&{form}", enc(&env.csrf()));
    let r = env.send(Method::POST, "/end_session/confirm", Some(&cookie), None, Some(&form)).await;
    assert_eq!(r.redirect().as_str(), "https://first.example/bye?state=s9");
    let r = env.authorize(Some(&cookie), "first", &[("prompt", "none")]).await;
    assert_redirect_error(&r, "https://first.example/cb", "login_required");
}
