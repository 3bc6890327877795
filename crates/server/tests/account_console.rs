//! The account console through the real router (`router(state).oneshot`, no socket) on in-memory
//! SQLite with a fixed clock: profile, password, sessions, connected applications and activity,
//! each rule and each error a person can run into, and every attempt to reach another account.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use common::{Browser, form, t0};
use latchkey_core::FixedClock;
use latchkey_core::model::{
    AccessTokenRecord, AccountId, AuditEvent, AuditOutcome, AuditQuery, Client, ClientId, Consent, NewAccount,
    TokenFamilyId,
};
use latchkey_core::password::{PasswordPolicy, PasswordProblem};
use latchkey_core::secret::{Secret, TokenHash};
use latchkey_core::store::{
    AccountStore as _, AuditStore as _, ClientStore as _, GrantStore as _, RoleStore as _, SessionStore as _,
    ThrottleStore as _,
};
use latchkey_server::AppState;
use latchkey_server::config::Config;

const PASSWORD: &str = "violet-tractor-sunrise-917";
const NEW_PASSWORD: &str = "copper-lantern-meadow-204";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                          Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const TAKEN: &str = "That username or email cannot be used.";
const WRONG: &str = "That is not your current password.";

/// One server (state and clock) shared by several browsers.
#[derive(Clone)]
struct Server {
    app: AppState,
    clock: Arc<FixedClock>,
    _dir: Arc<tempfile::TempDir>,
}

impl Server {
    async fn new() -> Self {
        Self::with_passwords(|_| {}).await
    }

    /// Cheap hashing unless `adjust` says otherwise.
    async fn with_passwords(adjust: impl FnOnce(&mut latchkey_server::config::PasswordConfig)) -> Self {
        let common::TestApp { app, clock, dir } = common::test_app(adjust).await;
        Self { app, clock, _dir: Arc::new(dir) }
    }

    async fn account(&self, username: &str) -> AccountId {
        // A cheap hash whatever the server's parameters: verification reads them from the hash.
        let cheap = latchkey_server::passwords::PasswordHasher::new(&Config::default().passwords).unwrap();
        let hash = cheap.hash(PASSWORD).await.unwrap();
        self.app
            .store
            .insert_account(NewAccount { password_hash: Some(hash), ..common::new_account(username) }, t0())
            .await
            .unwrap()
            .id
    }

    fn browser(&self, user_agent: &str) -> Browser {
        Browser::new(&self.app, Some(user_agent))
    }

    async fn events(&self, account: AccountId, event_type: &str) -> Vec<AuditEvent> {
        let query = AuditQuery {
            account_id: Some(account),
            event_type: Some(event_type.into()),
            limit: 100,
            ..AuditQuery::default()
        };
        self.app.store.list_audit_events(&query).await.unwrap()
    }

    async fn password_is(&self, account: AccountId, password: &str) -> bool {
        let stored = self.app.store.find_account(account).await.unwrap().unwrap().password_hash;
        self.app.passwords.verify(password, stored.as_deref()).await.unwrap().ok
    }
}

async fn alice() -> (Server, AccountId, Browser) {
    let server = Server::new().await;
    let alice = server.account("alice").await;
    let mut browser = server.browser(FIREFOX);
    browser.sign_in("alice", PASSWORD).await;
    (server, alice, browser)
}

const PAGES: [&str; 6] =
    ["/account", "/account/profile", "/account/password", "/account/sessions", "/account/apps", "/account/activity"];
const FORMS: [&str; 5] = [
    "/account/profile",
    "/account/password",
    "/account/sessions/end",
    "/account/sessions/end-others",
    "/account/apps/revoke",
];

// ---------------------------------------------------------------------------------------------
// The console as a whole
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn console_pages_and_forms_send_anonymous_visitors_to_sign_in() {
    let server = Server::new().await;
    let mut anonymous = server.browser(FIREFOX);
    for page in PAGES {
        let reply = anonymous.get(page).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{page}");
        let expected =
            format!("/login?return_to={}", url::form_urlencoded::byte_serialize(page.as_bytes()).collect::<String>());
        assert_eq!(reply.location(), Some(expected.as_str()), "{page}");
    }
    for action in FORMS {
        let reply = anonymous.send(Request::post(action), Some("csrf_token=x".into())).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{action}");
        assert!(reply.location().unwrap().starts_with("/login?return_to="), "{action}");
    }
}

#[tokio::test]
async fn a_form_posted_without_a_session_returns_to_the_page_it_came_from_not_to_its_action() {
    // The form's action (`/account/sessions/end`) accepts only posts: after signing in, the person
    // goes back to the page the form was on, named by a same-origin Referer, or to /account.
    let server = Server::new().await;
    let mut anonymous = server.browser(FIREFOX);
    let cases = [
        (Some("http://127.0.0.1:8080/account/sessions?page=2"), "/login?return_to=%2Faccount%2Fsessions%3Fpage%3D2"),
        (Some("https://evil.example/account/sessions"), "/login?return_to=%2Faccount"),
        (Some("not a url"), "/login?return_to=%2Faccount"),
        (None, "/login?return_to=%2Faccount"),
    ];
    // An admin console form without a Referer goes back to the admin overview.
    let reply = anonymous.send(Request::post("/admin/accounts"), Some("csrf_token=x".into())).await;
    assert_eq!(reply.location(), Some("/login?return_to=%2Fadmin"));
    for (referer, expected) in cases {
        let mut request = Request::post("/account/sessions/end");
        if let Some(referer) = referer {
            request = request.header(header::REFERER, referer);
        }
        let reply = anonymous.send(request, Some("csrf_token=x".into())).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{referer:?}");
        assert_eq!(reply.location(), Some(expected), "{referer:?}");
    }
}

#[tokio::test]
async fn every_console_page_has_the_navigation_and_is_never_cached() {
    let (_server, _alice, mut browser) = alice().await;
    for page in PAGES {
        let reply = browser.get(page).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        assert!(reply.no_store(), "{page} is no-store");
        assert!(reply.body.contains(r#"aria-label="Account sections""#), "{page} has the console navigation");
        assert!(reply.body.contains(&format!(r#"href="{page}" aria-current="page""#)), "{page} is marked current");
        assert!(reply.body.contains(r#"href="/logout""#), "{page} offers sign-out");
    }
    let overview = browser.get("/account").await;
    assert!(overview.body.contains(r#"<dl class="facts">"#));
    assert!(overview.body.contains("alice@example.com"));
}

#[tokio::test]
async fn console_forms_without_a_csrf_token_are_refused() {
    let (server, alice, mut browser) = alice().await;
    for action in FORMS {
        let reply = browser
            .send(Request::post(action), Some(form(&[("display_name", "Mallory"), ("email", "m@example.com")])))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{action}");
    }
    let account = server.app.store.find_account(alice).await.unwrap().unwrap();
    assert_eq!(account.display_name, None);
}

// ---------------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn display_name_is_saved_trimmed_and_audited() {
    let (server, alice, mut browser) = alice().await;
    let reply = browser
        .submit(
            "/account/profile",
            "/account/profile",
            &[("display_name", "  Alice Liddell "), ("email", "alice@example.com"), ("current_password", "")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some("/account/profile"));
    assert!(reply.no_store());
    let page = browser.get("/account/profile").await;
    assert!(
        page.body.contains(r#"<div class="flash success" role="status">Your profile has been saved."#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="Alice Liddell""#));
    let account = server.app.store.find_account(alice).await.unwrap().unwrap();
    assert_eq!(account.display_name.as_deref(), Some("Alice Liddell"));
    assert!(account.email_verified, "the email did not change, nor did its verification");
    assert_eq!(server.events(alice, "account.profile_updated").await.len(), 1);

    // Emptying it removes it; saving the same values again changes nothing.
    browser
        .submit("/account/profile", "/account/profile", &[("display_name", ""), ("email", "alice@example.com")])
        .await;
    assert_eq!(server.app.store.find_account(alice).await.unwrap().unwrap().display_name, None);
    browser
        .submit("/account/profile", "/account/profile", &[("display_name", ""), ("email", "alice@example.com")])
        .await;
    let page = browser.get("/account/profile").await;
    assert!(page.body.contains("Nothing to save"), "{}", page.body);
    assert_eq!(server.events(alice, "account.profile_updated").await.len(), 2);
}

#[tokio::test]
async fn display_name_longer_than_128_characters_is_refused_next_to_the_field() {
    let (server, alice, mut browser) = alice().await;
    let long = "é".repeat(129);
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("display_name", &long), ("email", "alice@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(r#"<p class="field-error" id="display_name-error">Use at most 128 characters.</p>"#));
    assert!(reply.body.contains(r#"aria-describedby="display_name-error""#));
    let ok = "é".repeat(128);
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("display_name", &ok), ("email", "alice@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(server.app.store.find_account(alice).await.unwrap().unwrap().display_name, Some(ok));
    let reply = browser
        .submit(
            "/account/profile",
            "/account/profile",
            &[("display_name", "A\u{202e}\nB"), ("email", "alice@example.com")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn email_change_needs_the_current_password_and_unverifies_the_address() {
    let (server, alice, mut browser) = alice().await;
    let change = |password: &'static str| {
        [("display_name", ""), ("email", "alice.new@example.com"), ("current_password", password)]
    };
    // No password.
    let reply = browser.submit("/account/profile", "/account/profile", &change("")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains(r#"id="current_password-error">Enter your current password to change your email address."#)
    );
    assert!(reply.body.contains(r#"value="alice.new@example.com""#), "the typed address is kept");
    // A wrong one.
    let reply = browser.submit("/account/profile", "/account/profile", &change("not-my-password-at-all")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(&format!(r#"id="current_password-error">{WRONG}"#)), "{}", reply.body);
    assert!(!reply.body.contains("not-my-password-at-all"), "a password is never echoed");
    assert_eq!(server.app.store.find_account(alice).await.unwrap().unwrap().email, "alice@example.com");
    assert_eq!(server.events(alice, "account.reauth_failure").await.len(), 1);
    // The right one.
    let reply = browser.submit("/account/profile", "/account/profile", &change(PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let account = server.app.store.find_account(alice).await.unwrap().unwrap();
    assert_eq!(account.email, "alice.new@example.com");
    assert!(!account.email_verified, "a new address starts unverified");
    let page = browser.get("/account/profile").await;
    assert!(page.body.contains("Your new email address is not verified yet."));
    let events = server.events(alice, "account.email_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, AuditOutcome::Success);
    // The old address no longer signs in; the new one does.
    let mut other = server.browser(SAFARI_IOS);
    let reply = other.submit("/login", "/login", &[("login", "alice@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, StatusCode::OK, "refused");
    other.sign_in("ALICE.NEW@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_change_of_letter_case_needs_no_password_and_keeps_verification() {
    let (server, alice, mut browser) = alice().await;
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("display_name", ""), ("email", "Alice@Example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let account = server.app.store.find_account(alice).await.unwrap().unwrap();
    assert_eq!(account.email, "Alice@Example.com");
    assert!(account.email_verified);
}

#[tokio::test]
async fn a_taken_email_is_refused_with_the_sign_up_message_and_only_after_the_password() {
    let (server, alice, mut browser) = alice().await;
    server.account("bob").await;
    // Without the password nothing is said about the address.
    let reply = browser
        .submit(
            "/account/profile",
            "/account/profile",
            &[("email", "BOB@example.com"), ("current_password", "wrong-guess-123456")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.body.contains(TAKEN), "the password comes first");
    // With it, the sign-up page's message, which does not say whether it is a username or an email.
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("email", "BOB@example.com"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(TAKEN), "{}", reply.body);
    assert_eq!(server.app.store.find_account(alice).await.unwrap().unwrap().email, "alice@example.com");
    let refused = server.events(alice, "account.email_changed").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, AuditOutcome::Failure);
}

#[tokio::test]
async fn an_invalid_email_is_refused_next_to_the_field() {
    let (_server, _alice, mut browser) = alice().await;
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("email", "not an address"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(r#"id="email-error">That does not look like an email address"#), "{}", reply.body);
}

// ---------------------------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------------------------

fn password_change<'a>(current: &'a str, new: &'a str, confirm: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("current_password", current), ("new_password", new), ("new_password_confirm", confirm)]
}

#[tokio::test]
async fn new_passwords_get_the_sign_up_policy_messages() {
    let (server, alice, mut browser) = alice().await;
    let policy = PasswordPolicy::default();
    let cases = [
        ("short-pass", PasswordProblem::TooShort { min: 15 }.to_string()),
        ("alice-violet-tractor-9", PasswordProblem::ContainsUsername.to_string()),
    ];
    for (new, message) in cases {
        assert_eq!(policy.check(new, "alice", "alice@example.com").unwrap_err().to_string(), message);
        let reply =
            browser.submit("/account/password", "/account/password", &password_change(PASSWORD, new, new)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{new}");
        let html_message = message.replace('\'', "&#x27;");
        assert!(
            reply.body.contains(&format!(r#"<p class="field-error" id="new_password-error">{html_message}</p>"#)),
            "{new}: {}",
            reply.body
        );
        assert!(reply.body.contains(r#"aria-describedby="new_password-error""#));
    }
    let reply = browser
        .submit(
            "/account/password",
            "/account/password",
            &password_change(PASSWORD, NEW_PASSWORD, "copper-lantern-meadow-205"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("The two passwords do not match; type the same password twice."));
    let reply = browser
        .submit("/account/password", "/account/password", &password_change("", NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(r#"id="current_password-error">Enter your current password."#));
    assert!(server.password_is(alice, PASSWORD).await, "nothing changed");
    assert!(server.events(alice, "account.password_changed").await.is_empty());
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let (server, alice, mut browser) = alice().await;
    let reply = browser
        .submit(
            "/account/password",
            "/account/password",
            &password_change("wrong-current-password", NEW_PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains(&format!(r#"id="current_password-error">{WRONG}"#)));
    assert!(!reply.body.contains(NEW_PASSWORD) && !reply.body.contains("wrong-current-password"));
    assert!(server.password_is(alice, PASSWORD).await);
}

#[tokio::test]
async fn password_change_replaces_the_hash_and_keeps_this_session_and_others() {
    let (server, alice, mut browser) = alice().await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let reply = browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some("/account/password"));
    assert!(server.password_is(alice, NEW_PASSWORD).await);
    assert!(!server.password_is(alice, PASSWORD).await);
    let page = browser.get("/account/password").await;
    assert!(page.body.contains(">Your password has been changed.</div>"), "{}", page.body);
    assert!(phone.signed_in().await, "without the option other sessions stay");
    let events = server.events(alice, "account.password_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["sign_out_others"], false);
}

#[tokio::test]
async fn password_change_can_sign_out_every_other_session() {
    let (server, alice, mut browser) = alice().await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let bob = server.account("bob").await;
    let mut bobs = server.browser(FIREFOX);
    bobs.sign_in("bob", PASSWORD).await;
    let mut fields = password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    fields.push(("sign_out_others", "on"));
    let reply = browser.submit("/account/password", "/account/password", &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = browser.get("/account/password").await;
    assert!(page.body.contains("your other sessions have been signed out"));
    assert!(browser.signed_in().await, "this session stays");
    assert!(!phone.signed_in().await, "the other session ended");
    assert!(bobs.signed_in().await, "other people's sessions are untouched");
    assert_eq!(server.app.store.list_sessions_of(alice).await.unwrap().len(), 1);
    assert_eq!(server.app.store.list_sessions_of(bob).await.unwrap().len(), 1);
    let ended = server.events(alice, "session.ended_by_user").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].detail["ended"], 1);
}

#[tokio::test]
async fn a_required_password_change_is_lifted_by_a_successful_change_and_can_return() {
    let (server, alice, mut browser) = alice().await;
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let page = browser.get("/account/password?return_to=%2Fauthorize%3Fclient_id%3Dx").await;
    assert!(page.body.contains("Your administrator asks you to choose a new password"));
    assert!(page.body.contains(r#"name="return_to" value="&#x2F;authorize?client_id=x""#), "{}", page.body);
    let mut fields = password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    fields.push(("return_to", "/authorize?client_id=x"));
    let reply = browser.submit("/account/password", "/account/password", &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), Some("/authorize?client_id=x"));
    assert!(!server.app.store.find_account(alice).await.unwrap().unwrap().password_change_required);
    // Only local paths are followed.
    let mut fields = password_change(NEW_PASSWORD, PASSWORD, PASSWORD);
    fields.push(("return_to", "https://evil.example/"));
    let reply = browser.submit("/account/password", "/account/password", &fields).await;
    assert_eq!(reply.location(), Some("/account"));
}

#[tokio::test]
async fn wrong_current_passwords_share_the_sign_in_throttle() {
    let (server, alice, mut browser) = alice().await;
    let guess = |i: usize| format!("guess-number-{i:02}-wrong");
    for i in 0..5 {
        let g = guess(i);
        let reply = browser
            .submit("/account/password", "/account/password", &password_change(&g, NEW_PASSWORD, NEW_PASSWORD))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "free attempt {i}");
    }
    // Past the free allowance: refused without checking, even with the right password, until the delay passes.
    let reply = browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    assert!(reply.body.contains("Too many wrong passwords"));
    assert!(server.password_is(alice, PASSWORD).await);
    let reply = browser
        .submit("/account/profile", "/account/profile", &[("email", "a2@example.com"), ("current_password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "the email form shares the budget");
    // So does the sign-in page: the console gives no extra guesses.
    let mut elsewhere = server.browser(SAFARI_IOS);
    let reply = elsewhere.submit("/login", "/login", &[("login", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!server.events(alice, "account.reauth_throttled").await.is_empty());
    // After the delay the right password works, and clears the counter.
    server.clock.advance(Duration::minutes(20));
    let reply = browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(server.app.store.find_throttle("login:alice").await.unwrap().is_none());
}

#[tokio::test]
async fn a_required_change_leads_from_sign_in_to_the_password_page_and_ends_there() {
    let server = Server::new().await;
    let alice = server.account("alice").await;
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let mut browser = server.browser(FIREFOX);
    let reply = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(reply.location(), Some("/account/password"));
    let page = browser.get("/account/password").await;
    assert!(page.body.contains("Your administrator asks you to choose a new password"), "{}", page.body);
    assert_eq!(browser.get("/account").await.location(), Some("/account/password?return_to=%2Faccount"));
    let reply = browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(!server.app.store.find_account(alice).await.unwrap().unwrap().password_change_required);
    assert!(!browser.get("/account/password").await.body.contains("Your administrator asks"));
    let events = server.events(alice, "account.password_changed").await;
    assert_eq!(events[0].detail["was_required"], true);
}

/// Where a page or form sends a person whose password change is required.
fn to_password_page(back: &str) -> String {
    format!("/account/password?return_to={}", url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>())
}

async fn make_admin(server: &Server, account: AccountId) {
    let store = &server.app.store;
    let role = match store.find_role_by_name("admin").await.unwrap() {
        Some(role) => role,
        None => store.insert_role("admin", None).await.unwrap(),
    };
    store.grant_role(account, role.id).await.unwrap();
}

#[tokio::test]
async fn a_required_change_closes_every_page_and_form_until_the_password_is_changed() {
    let (server, alice, mut browser) = alice().await;
    make_admin(&server, alice).await;
    server.app.store.insert_client(client("photos", "Photos")).await.unwrap();
    grant(&server, alice, "photos").await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let other = server
        .app
        .store
        .list_sessions_of(alice)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.user_agent.as_deref() == Some(SAFARI_IOS))
        .unwrap()
        .id
        .to_string();
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();

    // Every page, the admin console's too, leads to the password page and back (query kept).
    for page in PAGES.iter().filter(|p| **p != "/account/password").chain(&["/admin", "/admin/accounts?q=al", "/"]) {
        let reply = browser.get(page).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{page}");
        let expected = if *page == "/" { "/account".to_owned() } else { to_password_page(page) };
        let location = reply.location().unwrap();
        if *page == "/" {
            // `/` only forwards to the overview, which then leads to the password page.
            assert_eq!(location, expected);
            assert_eq!(browser.get(location).await.location(), Some(to_password_page("/account").as_str()));
        } else {
            assert_eq!(location, expected, "{page}");
        }
    }
    // Every form, with a valid CSRF token and good fields, changes nothing.
    let token = browser.get("/account/password").await.csrf_token();
    let forms: [(&str, Vec<(&str, &str)>); 4] = [
        ("/account/profile", vec![("display_name", "Mallory"), ("email", "alice@example.com")]),
        ("/account/sessions/end", vec![("session_id", &other)]),
        ("/account/sessions/end-others", vec![]),
        ("/account/apps/revoke", vec![("client_id", "photos")]),
    ];
    for (action, mut fields) in forms {
        fields.push(("csrf_token", &token));
        let reply = browser.send(Request::post(action), Some(form(&fields))).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{action}: {}", reply.body);
        // Without a Referer naming the form's page, the change goes on to the account page (the
        // action itself may accept only posts).
        assert_eq!(reply.location(), Some(to_password_page("/account").as_str()), "{action}");
    }
    let account = server.app.store.find_account(alice).await.unwrap().unwrap();
    assert_eq!(account.display_name, None);
    assert_eq!(server.app.store.list_sessions_of(alice).await.unwrap().len(), 2, "no session was ended");
    assert!(server.app.store.find_consent(alice, &ClientId("photos".into())).await.unwrap().is_some());
    assert!(server.events(alice, "session.ended_by_user").await.is_empty());
    // The password page explains why, and offers sign-out; the sign-out page still works.
    let page = browser.get("/account/password").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your administrator asks you to choose a new password"));
    assert!(page.body.contains(r#"Not now? <a href="/logout">Sign out</a>"#), "{}", page.body);
    assert_eq!(browser.get("/logout").await.status, StatusCode::OK);

    // After the change everything works again, on both devices.
    let reply = browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(reply.location(), Some("/account/password"));
    for page in PAGES.iter().chain(&["/admin"]) {
        assert_eq!(browser.get(page).await.status, StatusCode::OK, "{page}");
        assert_eq!(phone.get(page).await.status, StatusCode::OK, "{page} on the phone");
    }
    let reply = browser.submit("/account/apps", "/account/apps/revoke", &[("client_id", "photos")]).await;
    assert_eq!(reply.location(), Some("/account/apps"));
    assert!(server.app.store.find_consent(alice, &ClientId("photos".into())).await.unwrap().is_none());
}

#[tokio::test]
async fn sign_out_works_while_a_change_is_required() {
    let (server, alice, mut browser) = alice().await;
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let reply = browser.submit("/logout", "/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(server.app.store.list_sessions_of(alice).await.unwrap().is_empty());
    assert_eq!(browser.get("/account/password").await.location(), Some("/login?return_to=%2Faccount%2Fpassword"));
    assert_eq!(server.events(alice, "logout").await.len(), 1);
}

#[tokio::test]
async fn signing_in_with_a_required_change_keeps_where_the_person_was_going() {
    let server = Server::new().await;
    let alice = server.account("alice").await;
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let mut browser = server.browser(FIREFOX);
    let reply = browser.get("/account/sessions?x=1").await;
    assert_eq!(reply.location(), Some("/login?return_to=%2Faccount%2Fsessions%3Fx%3D1"));
    let fields = [("login", "alice"), ("password", PASSWORD), ("return_to", "/account/sessions?x=1")];
    let reply = browser.submit("/login", "/login", &fields).await;
    assert_eq!(reply.location(), Some(to_password_page("/account/sessions?x=1").as_str()));
    let page = browser.get(reply.location().unwrap()).await;
    assert!(page.body.contains("you will go on to where you were going"), "{}", page.body);
    let mut fields = password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    fields.push(("return_to", "/account/sessions?x=1"));
    let reply = browser.submit("/account/password", "/account/password", &fields).await;
    assert_eq!(reply.location(), Some("/account/sessions?x=1"));
    let page = browser.get("/account/sessions?x=1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your password has been changed"), "the success message: {}", page.body);
    // A foreign return_to given to the sign-in page is not carried along.
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let mut other = server.browser(SAFARI_IOS);
    let fields = [("login", "alice"), ("password", NEW_PASSWORD), ("return_to", "https://evil.example/")];
    let reply = other.submit("/login", "/login", &fields).await;
    assert_eq!(reply.location(), Some(to_password_page("/account").as_str()));
}

/// The query of an authorization request from the first-party `photos` client.
fn authorization_request(extra: &[(&str, &str)]) -> String {
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(b"a-verifier-of-enough-length-0123456789abcdef"))
    };
    let mut pairs = vec![
        ("response_type", "code".to_owned()),
        ("client_id", "photos".to_owned()),
        ("redirect_uri", "https://app.example/cb".to_owned()),
        ("scope", "openid profile".to_owned()),
        ("state", "st-1".to_owned()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    format!("/authorize?{}", form(&pairs.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()))
}

#[tokio::test]
async fn an_authorization_request_waits_for_the_required_change_and_then_ends_at_the_client_with_a_code() {
    let server = Server::new().await;
    let alice = server.account("alice").await;
    server.app.store.insert_client(Client { first_party: true, ..client("photos", "Photos") }).await.unwrap();
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();
    let mut browser = server.browser(FIREFOX);
    let request = authorization_request(&[]);

    // Not signed in: to the sign-in page, which leads to the password page with the request kept.
    let reply = browser.get(&request).await;
    let login = reply.location().unwrap().to_owned();
    assert!(login.starts_with("/login?return_to=%2Fauthorize%3F"), "{login}");
    let back: String = url::Url::parse(&format!("http://x{login}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let reply =
        browser.submit(&login, "/login", &[("login", "alice"), ("password", PASSWORD), ("return_to", &back)]).await;
    assert_eq!(reply.location(), Some(to_password_page(&back).as_str()));
    // Signed in, the request still gives no code: the password page again.
    let reply = browser.get(&back).await;
    assert_eq!(reply.location(), Some(to_password_page(&back).as_str()), "no code while the change is required");
    let page = browser.get(&to_password_page(&back)).await;
    assert!(page.body.contains("Your administrator asks you to choose a new password"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("https://app.example"), "the form may end at the client: {csp}");

    // The change resumes the request, which now ends at the client with a code.
    let mut fields = password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    fields.push(("return_to", &back));
    let reply = browser.submit(&to_password_page(&back), "/account/password", &fields).await;
    assert_eq!(reply.location(), Some(back.as_str()));
    let reply = browser.get(&back).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let at_client = url::Url::parse(reply.location().unwrap()).unwrap();
    assert_eq!(&at_client[..url::Position::AfterPath], "https://app.example/cb");
    let params: BTreeMap<String, String> = at_client.query_pairs().into_owned().collect();
    assert!(params.contains_key("code"), "{at_client}");
    assert_eq!(params.get("state").map(String::as_str), Some("st-1"));
}

#[tokio::test]
async fn a_required_change_answers_prompt_none_and_consent_without_a_code() {
    let (server, alice, mut browser) = alice().await;
    server.app.store.insert_client(client("photos", "Photos")).await.unwrap();
    // The consent page, shown before the administrator required the change.
    let page = browser.get(&authorization_request(&[])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.body.find(&marker).unwrap() + marker.len();
        page.body[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#x3D;", "=")
            .replace("&#x2F;", "/")
    };
    let (request, issued_at, ticket) = (hidden("request"), hidden("issued_at"), hidden("ticket"));
    server.app.store.set_password_change_required(alice, true, t0()).await.unwrap();

    // prompt=none: the client hears interaction_required (OIDC Core §3.1.2.6).
    let reply = browser.get(&authorization_request(&[("prompt", "none")])).await;
    let at_client = url::Url::parse(reply.location().unwrap()).unwrap();
    let params: BTreeMap<String, String> = at_client.query_pairs().into_owned().collect();
    assert_eq!(params.get("error").map(String::as_str), Some("interaction_required"), "{at_client}");
    assert_eq!(params.get("state").map(String::as_str), Some("st-1"));
    assert!(!params.contains_key("code"));
    // Without it: the password page, not the consent page.
    let request_path = authorization_request(&[]);
    assert_eq!(browser.get(&request_path).await.location(), Some(to_password_page(&request_path).as_str()));
    // Allowing on the consent page shown earlier: no consent remembered, no code; the request resumes later.
    let token = page.csrf_token();
    let fields = [
        ("csrf_token", token.as_str()),
        ("request", &request),
        ("issued_at", &issued_at),
        ("ticket", &ticket),
        ("decision", "allow"),
    ];
    let reply = browser.send(Request::post("/consent"), Some(form(&fields))).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some(to_password_page(&format!("/authorize?{request}")).as_str()));
    assert!(server.app.store.find_consent(alice, &ClientId("photos".into())).await.unwrap().is_none());
}

#[tokio::test]
async fn a_busy_password_hasher_answers_503_and_changes_nothing() {
    // One hashing slot, a short queue, and the slot held by the test while the form is posted.
    let server = Server::with_passwords(|p| {
        p.max_concurrent_hashes = 1;
        p.hash_queue_timeout = std::time::Duration::from_millis(20);
    })
    .await;
    let alice = server.account("alice").await;
    let mut browser = server.browser(FIREFOX);
    browser.sign_in("alice", PASSWORD).await;
    let token = browser.get("/account/password").await.csrf_token();
    let slot = server.app.passwords.try_hold_slot().expect("the only slot is free");
    assert_eq!(server.app.passwords.capacity(), 0);
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
        ("new_password_confirm", NEW_PASSWORD),
        ("csrf_token", &token),
    ];
    let reply = browser.send(Request::post("/account/password"), Some(form(&fields))).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    drop(slot);
    assert!(server.password_is(alice, PASSWORD).await);
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sessions_lists_this_device_and_the_others_with_device_and_times() {
    let (server, _alice, mut browser) = alice().await;
    server.clock.advance(Duration::minutes(5));
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let page = browser.get("/account/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Firefox on Linux"), "{}", page.body);
    assert!(page.body.contains("Safari on iOS"));
    assert_eq!(page.body.matches("This device").count(), 1);
    let firefox = page.body.find("Firefox on Linux").unwrap();
    assert!(firefox < page.body.find("Safari on iOS").unwrap(), "this device comes first");
    assert!(page.body.find("This device").unwrap() > firefox);
    assert!(page.body.contains("2025-06-15 15:06 UTC"), "sign-in time of the first session");
    assert!(page.body.contains("2025-06-15 15:11 UTC"), "sign-in time of the second");
    assert_eq!(page.body.matches(r#"name="session_id""#).count(), 1, "only the other session has a sign-out form");
    assert!(page.body.contains("Sign out all other sessions"));
}

#[tokio::test]
async fn ending_another_session_signs_that_browser_out() {
    let (server, alice, mut browser) = alice().await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let sessions = server.app.store.list_sessions_of(alice).await.unwrap();
    let page = browser.get("/account/sessions").await;
    let current = sessions.iter().find(|s| !page.body.contains(&s.id.to_string())).unwrap().id;
    let other = sessions.iter().find(|s| s.id != current).unwrap().id.to_string();
    let reply = browser.submit("/account/sessions", "/account/sessions/end", &[("session_id", &other)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), Some("/account/sessions"));
    let page = browser.get("/account/sessions").await;
    assert!(page.body.contains("That session has been signed out."));
    assert!(page.body.contains("You are not signed in anywhere else."));
    assert!(!phone.signed_in().await);
    assert!(browser.signed_in().await);
    assert_eq!(server.events(alice, "session.ended_by_user").await.len(), 1);
}

#[tokio::test]
async fn another_accounts_session_cannot_be_ended() {
    let (server, alice, mut browser) = alice().await;
    let bob = server.account("bob").await;
    let mut bobs = server.browser(FIREFOX);
    bobs.sign_in("bob", PASSWORD).await;
    let bobs_session = server.app.store.list_sessions_of(bob).await.unwrap()[0].id.to_string();
    // A hand-made form (her page has no session form but her own), with a valid token.
    let reply = browser.submit("/account/profile", "/account/sessions/end", &[("session_id", &bobs_session)]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(bobs.signed_in().await, "bob is still signed in");
    // An unknown id and junk look the same.
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "not-a-uuid", ""] {
        let reply = browser.submit("/account/profile", "/account/sessions/end", &[("session_id", id)]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id:?}");
    }
    // Ending "all others" never reaches another account either.
    let reply = browser.submit("/account/profile", "/account/sessions/end-others", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(bobs.signed_in().await);
    assert!(server.events(alice, "session.ended_by_user").await.len() == 1);
    assert!(server.events(bob, "session.ended_by_user").await.is_empty());
}

#[tokio::test]
async fn the_session_in_use_is_ended_by_signing_out_not_here() {
    let (server, alice, mut browser) = alice().await;
    let mine = server.app.store.list_sessions_of(alice).await.unwrap()[0].id.to_string();
    // The page has no form for it; a hand-made one with a valid token.
    let reply = browser.submit("/account/profile", "/account/sessions/end", &[("session_id", &mine)]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(browser.signed_in().await);
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_this_one() {
    let (server, alice, mut browser) = alice().await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    let mut laptop = server.browser(FIREFOX);
    laptop.sign_in("alice", PASSWORD).await;
    let reply = browser.submit("/account/sessions", "/account/sessions/end-others", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/account/sessions").await.body.contains("All your other sessions have been signed out."));
    assert!(browser.signed_in().await);
    assert!(!phone.signed_in().await && !laptop.signed_in().await);
    let ended = server.events(alice, "session.ended_by_user").await;
    assert_eq!(ended[0].detail["ended"], 2);
}

#[tokio::test]
async fn expired_sessions_are_not_listed() {
    let (server, _alice, mut browser) = alice().await;
    let mut phone = server.browser(SAFARI_IOS);
    phone.sign_in("alice", PASSWORD).await;
    // The phone idles past the timeout while this browser stays active.
    for _ in 0..3 {
        server.clock.advance(Duration::minutes(25));
        assert!(browser.signed_in().await);
    }
    let page = browser.get("/account/sessions").await;
    assert!(!page.body.contains("Safari on iOS"), "{}", page.body);
}

// ---------------------------------------------------------------------------------------------
// Connected applications
// ---------------------------------------------------------------------------------------------

fn client(id: &str, name: &str) -> Client {
    Client { secret_hash: Some(Secret::generate().hash()), name: name.into(), ..common::client(id) }
}

/// A consent with a refresh token and an access token, as the code flow leaves them.
async fn grant(server: &Server, account: AccountId, client: &str) -> (TokenHash, String) {
    let client = ClientId(client.into());
    let scopes: Vec<String> = ["openid", "email", "offline_access"].map(String::from).to_vec();
    server
        .app
        .store
        .upsert_consent(Consent {
            account_id: account,
            client_id: client.clone(),
            scopes: scopes.clone(),
            granted_at: t0(),
        })
        .await
        .unwrap();
    let family = TokenFamilyId::new();
    let refresh = Secret::generate().hash();
    server
        .app
        .store
        .insert_refresh_token(common::refresh_token(refresh.clone(), family, &client.0, account, scopes.clone()))
        .await
        .unwrap();
    let jti = uuid::Uuid::now_v7().to_string();
    server
        .app
        .store
        .insert_access_token(AccessTokenRecord {
            jti: jti.clone(),
            client_id: client,
            account_id: Some(account),
            family_id: Some(family),
            scopes,
            created_at: t0(),
            expires_at: t0() + Duration::hours(1),
            revoked_at: None,
        })
        .await
        .unwrap();
    (refresh, jti)
}

#[tokio::test]
async fn connected_apps_lists_consents_with_names_scopes_and_dates() {
    let (server, alice, mut browser) = alice().await;
    let page = browser.get("/account/apps").await;
    assert!(page.body.contains("No connected applications."));
    server.app.store.insert_client(client("photos", "Photo <Album>")).await.unwrap();
    grant(&server, alice, "photos").await;
    let page = browser.get("/account/apps").await;
    assert!(page.body.contains("Photo &lt;Album&gt;"), "names are escaped: {}", page.body);
    assert!(page.body.contains("Can see your email address and whether it is verified"));
    assert!(page.body.contains("Can keep access while you are not using it"));
    assert!(page.body.contains("2025-06-15 15:06 UTC"));
    assert!(page.body.contains(r#"name="client_id" value="photos""#));
}

#[tokio::test]
async fn revoking_an_app_removes_the_consent_and_this_persons_tokens_only() {
    let (server, alice, mut browser) = alice().await;
    let bob = server.account("bob").await;
    server.app.store.insert_client(client("photos", "Photos")).await.unwrap();
    server.app.store.insert_client(client("notes", "Notes")).await.unwrap();
    let (alice_refresh, alice_access) = grant(&server, alice, "photos").await;
    let (alice_notes_refresh, _) = grant(&server, alice, "notes").await;
    let (bob_refresh, bob_access) = grant(&server, bob, "photos").await;

    let reply = browser.submit("/account/apps", "/account/apps/revoke", &[("client_id", "photos")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some("/account/apps"));
    let store = &server.app.store;
    assert!(store.find_consent(alice, &ClientId("photos".into())).await.unwrap().is_none());
    assert!(store.find_refresh_token(&alice_refresh).await.unwrap().unwrap().revoked_at.is_some());
    assert!(store.find_access_token(&alice_access).await.unwrap().unwrap().revoked_at.is_some());
    // Another app of hers, and bob's grant to the same app, stay.
    assert!(store.find_consent(alice, &ClientId("notes".into())).await.unwrap().is_some());
    assert!(store.find_refresh_token(&alice_notes_refresh).await.unwrap().unwrap().revoked_at.is_none());
    assert!(store.find_consent(bob, &ClientId("photos".into())).await.unwrap().is_some());
    assert!(store.find_refresh_token(&bob_refresh).await.unwrap().unwrap().revoked_at.is_none());
    assert!(store.find_access_token(&bob_access).await.unwrap().unwrap().revoked_at.is_none());

    let page = browser.get("/account/apps").await;
    assert!(page.body.contains("The application&#x27;s access has been revoked."), "{}", page.body);
    assert!(!page.body.contains(r#"value="photos""#) && page.body.contains(r#"value="notes""#));
    let events = server.events(alice, "consent.revoked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id, Some(ClientId("photos".into())));
    assert_eq!(events[0].detail["tokens_revoked"], 2);

    // Again, or for an app she never allowed: nothing to revoke.
    for id in ["photos", "unknown", ""] {
        let reply = browser.submit("/account/apps", "/account/apps/revoke", &[("client_id", id)]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Activity
// ---------------------------------------------------------------------------------------------

fn event(account: AccountId, event_type: &str, ip: &str, detail: serde_json::Value, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7(),
        at,
        event_type: event_type.into(),
        account_id: Some(account),
        actor_id: None,
        client_id: None,
        ip: Some(ip.into()),
        user_agent: Some(FIREFOX.into()),
        outcome: AuditOutcome::Success,
        detail,
    }
}

#[tokio::test]
async fn activity_shows_own_sign_ins_and_failures_without_details() {
    let (server, alice, mut browser) = alice().await;
    let bob = server.account("bob").await;
    // A failed attempt on alice's account, from elsewhere.
    let mut attacker = server.browser(SAFARI_IOS);
    let reply = attacker.submit("/login", "/login", &[("login", "alice"), ("password", "wrong-password-here")]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let mut bobs = server.browser(FIREFOX);
    bobs.sign_in("bob", PASSWORD).await;
    server
        .app
        .store
        .insert_audit_event(event(bob, "login.success", "198.51.100.77", serde_json::json!({}), t0()))
        .await
        .unwrap();
    server
        .app
        .store
        .insert_audit_event(event(
            alice,
            "login.success",
            "192.0.2.10",
            serde_json::json!({"secret": "server-side-only"}),
            t0(),
        ))
        .await
        .unwrap();
    // An administrator acting on her account: their address is not shown to her.
    let admin = server.account("root").await;
    let mut by_admin = event(alice, "account.password_set", "203.0.113.99", serde_json::json!({}), t0());
    by_admin.actor_id = Some(admin);
    server.app.store.insert_audit_event(by_admin).await.unwrap();

    let page = browser.get("/account/activity").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.no_store());
    assert!(page.body.contains("Signed in"));
    assert!(page.body.contains("Failed sign-in attempt"));
    assert!(page.body.contains("Safari on iOS"), "the failure's device");
    assert!(page.body.contains("192.0.2.10"));
    assert!(page.body.contains("Password set by an administrator"));
    assert!(!page.body.contains("203.0.113.99"), "an administrator's address is theirs");
    assert!(!page.body.contains("198.51.100.77"), "other accounts' events never show");
    assert!(!page.body.contains("server-side-only") && !page.body.contains("wrong_password"), "no detail");
}

#[tokio::test]
async fn activity_is_paginated_newest_first() {
    let (server, alice, mut browser) = alice().await;
    for i in 0..30 {
        let at = t0() - Duration::hours(i64::from(i) + 1);
        let e = event(alice, "login.success", &format!("192.0.2.{}", i + 1), serde_json::json!({}), at);
        server.app.store.insert_audit_event(e).await.unwrap();
    }
    // 31 events in all (30 seeded, this browser's sign-in): 25 on the first page, 6 on the second.
    let first = browser.get("/account/activity").await;
    assert_eq!(first.body.matches("<tr").count() - 1, 25, "header row + 25");
    assert!(first.body.contains(r#"href="/account/activity?page=2" rel="next""#));
    assert!(!first.body.contains(r#"rel="prev""#));
    assert!(first.body.contains("192.0.2.1<") && !first.body.contains("192.0.2.30<"));
    let second = browser.get("/account/activity?page=2").await;
    assert_eq!(second.body.matches("<tr").count() - 1, 6);
    assert!(second.body.contains("192.0.2.30<"), "the oldest is last");
    assert!(second.body.contains(r#"href="/account/activity" rel="prev""#));
    assert!(!second.body.contains(r#"rel="next""#));
    let junk = browser.get("/account/activity?page=abc").await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    let far = browser.get("/account/activity?page=99").await;
    assert!(far.body.contains("No activity on this page."));
}

#[tokio::test]
async fn console_changes_appear_in_activity() {
    let (_server, _alice, mut browser) = alice().await;
    browser
        .submit("/account/profile", "/account/profile", &[("display_name", "Alice"), ("email", "alice@example.com")])
        .await;
    browser
        .submit(
            "/account/password",
            "/account/password",
            &password_change("wrong-password-guess", NEW_PASSWORD, NEW_PASSWORD),
        )
        .await;
    browser
        .submit("/account/password", "/account/password", &password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD))
        .await;
    let page = browser.get("/account/activity").await;
    for what in ["Display name changed", "Wrong current password entered in the account console", "Password changed"] {
        assert!(page.body.contains(what), "{what}: {}", page.body);
    }
}
