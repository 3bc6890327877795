//! Session lifetimes through the real router (`router(state).oneshot`, no socket) on in-memory
//! SQLite, with a clock the tests move: the one-hour idle timeout, the 12-hour absolute one,
//! "Remember me", and how often `last_seen_at` is written. No sleeping anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::http::{Request, StatusCode};
use chrono::Duration;
use common::{Reply, t0};
use latchkey_core::FixedClock;
use latchkey_core::model::{AccountId, AuditQuery, NewAccount, Session};
use latchkey_core::store::{AccountStore as _, AuditStore as _, SessionStore as _};

const PASSWORD: &str = "violet-tractor-sunrise-917";

/// A browser (no user agent) on a server with one account, alice, and a clock the test moves.
struct Browser {
    web: common::Browser,
    clock: Arc<FixedClock>,
    account: AccountId,
    _dir: tempfile::TempDir,
}

impl Deref for Browser {
    type Target = common::Browser;

    fn deref(&self) -> &common::Browser {
        &self.web
    }
}

impl DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut common::Browser {
        &mut self.web
    }
}

impl Browser {
    async fn new() -> Self {
        let common::TestApp { app, clock, dir } = common::test_app(|_| {}).await;
        let hash = app.passwords.hash(PASSWORD).await.unwrap();
        let account = app
            .store
            .insert_account(
                NewAccount {
                    password_hash: Some(hash),
                    display_name: Some("Alice".into()),
                    ..common::new_account("alice")
                },
                t0(),
            )
            .await
            .unwrap();
        Self { web: common::Browser::new(&app, None), clock, account: account.id, _dir: dir }
    }

    /// Another browser (no cookies) on the same server and clock.
    fn clone_app(other: &Browser) -> Browser {
        Browser {
            web: common::Browser::new(&other.app, None),
            clock: other.clock.clone(),
            account: other.account,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn sign_in(&mut self, remember_me: bool) -> Reply {
        let page = self.get("/login").await;
        let token = page.csrf_token();
        let mut form = format!("login=alice&password={PASSWORD}&csrf_token={token}");
        if remember_me {
            form.push_str("&remember_me=on");
        }
        let reply = self.send(Request::post("/login"), Some(form)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert_eq!(reply.location(), Some("/account"));
        reply
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn session(&self) -> Option<Session> {
        self.app.store.list_sessions_of(self.account).await.unwrap().into_iter().next()
    }

    async fn expect_signed_in(&mut self, when: &str) {
        let reply = self.get("/account").await;
        assert_eq!(reply.status, StatusCode::OK, "{when}: {:?}", reply.location());
        assert!(reply.body.contains("alice@example.com"), "{when}");
    }

    /// `/account` sends the browser to sign in and says the session expired; the row is gone.
    async fn expect_expired(&mut self, when: &str) {
        let reply = self.get("/account").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{when}");
        assert_eq!(reply.location(), Some("/login?return_to=%2Faccount"), "{when}");
        assert!(self.session().await.is_none(), "{when}: the expired session row is deleted");
        let login = self.get("/login?return_to=%2Faccount").await;
        assert!(login.body.contains("Your session expired, please sign in again"), "{when}: {}", login.body);
        let events = self
            .app
            .store
            .list_audit_events(&AuditQuery {
                event_type: Some("session.expired".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{when}: one session.expired event");
        assert_eq!(events[0].account_id, Some(self.account));
    }
}

#[tokio::test]
async fn idle_session_is_valid_at_59_minutes_and_expired_at_61() {
    let mut browser = Browser::new().await;
    let reply = browser.sign_in(false).await;
    let session_cookie = reply.set_cookies().into_iter().find(|c| c.starts_with("latchkey_session=")).unwrap();
    assert!(!session_cookie.contains("Max-Age"), "without remember-me the cookie ends with the browser");
    browser.advance(Duration::minutes(59));
    browser.expect_signed_in("59 minutes idle").await;
    // That request slid the timeout: 59 more minutes are still fine, 61 are not.
    browser.advance(Duration::minutes(59));
    browser.expect_signed_in("59 minutes after the last request").await;
    browser.advance(Duration::minutes(61));
    browser.expect_expired("61 minutes idle").await;
}

#[tokio::test]
async fn idle_expiry_without_any_request_in_between() {
    let mut browser = Browser::new().await;
    browser.sign_in(false).await;
    browser.advance(Duration::minutes(61));
    browser.expect_expired("61 minutes after sign-in").await;
}

#[tokio::test]
async fn absolute_expiry_ends_an_active_session_after_12_hours() {
    let mut browser = Browser::new().await;
    browser.sign_in(false).await;
    // A request every 50 minutes keeps the session from idling, up to 11 h 40 min.
    for step in 1..=14 {
        browser.advance(Duration::minutes(50));
        browser.expect_signed_in(&format!("{} minutes", step * 50)).await;
    }
    browser.advance(Duration::minutes(20)); // exactly 12 hours
    browser.expect_expired("12 hours after sign-in").await;
}

#[tokio::test]
async fn remember_me_lasts_30_days_and_idles_out_after_7() {
    let mut browser = Browser::new().await;
    let reply = browser.sign_in(true).await;
    let session_cookie = reply.set_cookies().into_iter().find(|c| c.starts_with("latchkey_session=")).unwrap();
    assert!(session_cookie.contains("Max-Age=2592000"), "{session_cookie}");
    let session = browser.session().await.unwrap();
    assert!(session.remember_me);
    assert_eq!(session.expires_at - session.created_at, Duration::days(30));
    // Used every 6 days: alive until day 30.
    for day in [6, 12, 18, 24] {
        browser.advance(Duration::days(6));
        browser.expect_signed_in(&format!("day {day}")).await;
    }
    browser.advance(Duration::days(5) + Duration::hours(23));
    browser.expect_signed_in("day 29 23h").await;
    browser.advance(Duration::hours(1));
    browser.expect_expired("day 30").await;
}

#[tokio::test]
async fn remember_me_idles_out_after_7_days() {
    let mut browser = Browser::new().await;
    browser.sign_in(true).await;
    browser.advance(Duration::days(7) - Duration::minutes(1));
    browser.expect_signed_in("6 days 23:59 idle").await;
    browser.advance(Duration::days(7));
    browser.expect_expired("7 days idle").await;
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let mut browser = Browser::new().await;
    browser.sign_in(false).await;
    let signed_in_at = browser.session().await.unwrap().last_seen_at;
    assert_eq!(signed_in_at, t0());
    browser.advance(Duration::seconds(30));
    browser.expect_signed_in("30 s").await;
    assert_eq!(browser.session().await.unwrap().last_seen_at, t0(), "no write within the interval");
    browser.advance(Duration::seconds(31));
    browser.expect_signed_in("61 s").await;
    assert_eq!(browser.session().await.unwrap().last_seen_at, t0() + Duration::seconds(61), "touched");
    browser.advance(Duration::seconds(10));
    browser.expect_signed_in("71 s").await;
    assert_eq!(browser.session().await.unwrap().last_seen_at, t0() + Duration::seconds(61), "not again so soon");
}

#[tokio::test]
async fn every_step_is_audited_with_its_reason_kept_server_side() {
    let mut browser = Browser::new().await;
    // Sign-up, from another browser.
    let mut newcomer = Browser::clone_app(&browser);
    let token = newcomer.get("/signup").await.csrf_token();
    let form = format!(
        "username=bob&email=bob%40example.com&password={PASSWORD}&password_confirm={PASSWORD}&csrf_token={token}"
    );
    assert_eq!(newcomer.send(Request::post("/signup"), Some(form)).await.status, StatusCode::SEE_OTHER);
    // A failure for a known and an unknown account, then a success, then a sign-out.
    for login in ["alice", "nobody"] {
        let token = browser.get("/login").await.csrf_token();
        let form = format!("login={login}&password=wrong-password-entirely&csrf_token={token}");
        let reply = browser.send(Request::post("/login"), Some(form)).await;
        assert!(reply.body.contains("Incorrect username or password."));
        assert!(!reply.body.contains("wrong_password") && !reply.body.contains("unknown_account"));
    }
    browser.sign_in(false).await;
    let token = browser.get("/logout").await.csrf_token();
    let reply = browser.send(Request::post("/logout"), Some(format!("csrf_token={token}"))).await;
    assert!(reply.body.contains("You have been signed out"));
    // Five more failures trip the throttle for "alice".
    for _ in 0..5 {
        let token = browser.get("/login").await.csrf_token();
        let form = format!("login=alice&password=wrong-password-entirely&csrf_token={token}");
        browser.send(Request::post("/login"), Some(form)).await;
    }
    let token = browser.get("/login").await.csrf_token();
    let form = format!("login=alice&password={PASSWORD}&csrf_token={token}");
    let reply = browser.send(Request::post("/login"), Some(form)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);

    let events = browser.app.store.list_audit_events(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    let find = |event_type: &str| events.iter().filter(|e| e.event_type == event_type).collect::<Vec<_>>();
    let signup = find("account.signup");
    assert_eq!(signup.len(), 1);
    assert!(signup[0].account_id.is_some());
    let failures = find("login.failure");
    let reasons: Vec<&str> = failures.iter().filter_map(|e| e.detail["reason"].as_str()).collect();
    assert!(reasons.contains(&"wrong_password") && reasons.contains(&"unknown_account"), "{reasons:?}");
    assert!(failures.iter().any(|e| e.account_id == Some(browser.account)));
    assert_eq!(find("login.success").len(), 2, "sign-up and sign-in");
    let logout = find("logout");
    assert_eq!(logout.len(), 1);
    assert_eq!(logout[0].account_id, Some(browser.account));
    let throttled = find("login.throttled");
    assert_eq!(throttled.len(), 1);
    // This browser signed in to alice before: its own failures throttle its own device counter.
    assert_eq!(throttled[0].detail["counter"], "device");
    assert_eq!(throttled[0].account_id, Some(browser.account), "the throttled account is named");
}

/// The sign-in form counts a password's length in NFKC, as sign-up and the hasher do: a 256-character
/// password (the maximum) sent decomposed (each `é` as `e` + U+0301, 486 code points) signs in.
#[tokio::test]
async fn a_maximum_length_password_sent_decomposed_signs_in() {
    let common::TestApp { app, dir: _dir, .. } = common::test_app(|_| {}).await;
    let composed = format!("{PASSWORD}{}", "\u{e9}".repeat(256 - PASSWORD.chars().count()));
    assert_eq!(composed.chars().count(), 256);
    let decomposed = composed.replace('\u{e9}', "e\u{301}");
    assert!(decomposed.chars().count() > 256);
    let hash = app.passwords.hash(&composed).await.unwrap();
    app.store
        .insert_account(NewAccount { password_hash: Some(hash), ..common::new_account("elodie") }, t0())
        .await
        .unwrap();
    let mut browser = common::Browser::new(&app, None);
    let reply = browser.submit("/login", "/login", &[("login", "elodie"), ("password", &decomposed)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    // One character more is refused by the form, before any hashing, with the length rule.
    let too_long = format!("{decomposed}e\u{301}");
    let reply = browser.submit("/login", "/login", &[("login", "elodie"), ("password", &too_long)]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("at most 256 characters"), "{}", reply.body);
}
