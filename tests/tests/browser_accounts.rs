//! The account pages in headless Chromium: what a person sees when signing up, signing out and
//! signing in again, with a screenshot of every page in `tests/output/screenshots/<test>/`.
//!
//! HTTP-level tests cover each rule and attack; these check that the real pages work as a whole in a
//! real browser (forms, redirects, cookies as Chromium keeps them, messages shown).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::browser::Browser;
use latchkey_tests::{Db, PASSWORD, Server};

#[tokio::test]
async fn unknown_page_shows_the_html_error_page_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    let Some(mut browser) = Browser::launch("unknown_page", &server.base_url).await else { return };
    browser.open("/no/such/page").await.unwrap();
    let text = browser.page_text().await.unwrap();
    assert!(text.contains("Page not found"), "{text}");
    browser.screenshot("not-found").await.unwrap();
    browser.set_viewport(390, 844).await.unwrap();
    browser.screenshot("not-found-phone").await.unwrap();
    browser.close().await;
}

/// The sign-in session cookie among Chromium's cookies. Its exact name depends on the issuer
/// (`__Host-` prefix on https), so match on the word.
fn session_cookie(cookies: &[fantoccini::cookies::Cookie<'static>]) -> Option<fantoccini::cookies::Cookie<'static>> {
    cookies.iter().find(|c| c.name().to_ascii_lowercase().contains("session")).cloned()
}

fn cookie_names(cookies: &[fantoccini::cookies::Cookie<'static>]) -> Vec<String> {
    cookies.iter().map(|c| c.name().to_owned()).collect()
}

#[tokio::test]
async fn signup_signout_and_signin_with_remember_me_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    let Some(mut b) = Browser::launch("signup_signout_signin", &server.base_url).await else { return };

    // The empty sign-up form, as the contract names its fields.
    b.open("/signup").await.unwrap();
    for id in ["username", "email", "password", "password_confirm"] {
        assert!(b.exists(&format!("input#{id}[name={id}]")).await.unwrap(), "#{id} on the sign-up form");
    }
    assert!(b.exists("input[type=hidden][name=csrf_token]").await.unwrap());
    assert!(b.exists("input[type=hidden][name=return_to]").await.unwrap());
    b.screenshot("signup-empty").await.unwrap();

    // A password the policy refuses: the error sits next to the field and is tied to it; the other
    // values are kept, the passwords are not.
    b.fill("username", "ada").await.unwrap();
    b.fill("email", "ada@example.com").await.unwrap();
    b.fill("password", "too-short").await.unwrap();
    b.fill("password_confirm", "too-short").await.unwrap();
    b.click_button("Create account").await.unwrap();
    b.wait_for("p.field-error#password-error").await.unwrap();
    assert_eq!(b.path().await.unwrap().split('?').next(), Some("/signup"));
    let error = b.text("#password-error").await.unwrap();
    assert!(!error.trim().is_empty(), "the field error says what is wrong");
    let described_by = b.attr("input#password", "aria-describedby").await.unwrap().unwrap_or_default();
    assert!(described_by.split_whitespace().any(|id| id == "password-error"), "aria-describedby={described_by:?}");
    assert_eq!(b.value("username").await.unwrap(), "ada");
    assert_eq!(b.value("email").await.unwrap(), "ada@example.com");
    assert_eq!(b.value("password").await.unwrap(), "", "passwords are never sent back");
    b.screenshot("signup-field-error").await.unwrap();

    // A good password: signed in, on /account, with a success message.
    b.fill("password", PASSWORD).await.unwrap();
    b.fill("password_confirm", PASSWORD).await.unwrap();
    b.click_button("Create account").await.unwrap();
    b.wait_for_path("/account").await.unwrap();
    b.wait_for("div.flash.success[role=status]").await.unwrap();
    let facts = b.text("dl.facts").await.unwrap();
    assert!(facts.contains("ada") && facts.contains("ada@example.com"), "{facts}");
    b.screenshot("account-after-signup").await.unwrap();
    let cookies = b.cookies().await.unwrap();
    let session =
        session_cookie(&cookies).unwrap_or_else(|| panic!("no session cookie in {:?}", cookie_names(&cookies)));
    assert_eq!(session.http_only(), Some(true), "{session:?}");
    assert!(session.expires_datetime().is_none(), "without Remember me the cookie ends with the browser: {session:?}");

    // The flash message survives one redirect, not a reload.
    b.open("/account").await.unwrap();
    assert!(!b.exists("div.flash.success").await.unwrap(), "the flash is shown once");

    // Sign out: a confirmation first, then the signed-out page.
    b.click_link("/logout").await.unwrap();
    b.wait_for_path("/logout").await.unwrap();
    b.screenshot("logout-confirm").await.unwrap();
    b.click_button("Sign out").await.unwrap();
    b.wait_for("body").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("You have been signed out"), "{text}");
    b.screenshot("signed-out").await.unwrap();

    // A wrong password: one message, the identifier kept, the password cleared.
    b.open("/login").await.unwrap();
    b.fill("login", "ada").await.unwrap();
    b.fill("password", "not-my-password-at-all-42").await.unwrap();
    b.click_button("Sign in").await.unwrap();
    b.wait_for("div.flash.error[role=alert]").await.unwrap();
    assert_eq!(b.value("login").await.unwrap(), "ada");
    assert_eq!(b.value("password").await.unwrap(), "");
    b.screenshot("login-error").await.unwrap();

    // Sign in again with Remember me, by email this time: a persistent cookie, and /account.
    b.fill("login", "ada@example.com").await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.set_checked("remember_me", true).await.unwrap();
    b.screenshot("login-remember-me").await.unwrap();
    b.click_button("Sign in").await.unwrap();
    b.wait_for_path("/account").await.unwrap();
    let facts = b.text("dl.facts").await.unwrap();
    assert!(facts.contains("ada@example.com"), "{facts}");
    let cookies = b.cookies().await.unwrap();
    let remembered =
        session_cookie(&cookies).unwrap_or_else(|| panic!("no session cookie in {:?}", cookie_names(&cookies)));
    let expires =
        remembered.expires_datetime().unwrap_or_else(|| panic!("Remember me persists the cookie: {remembered:?}"));
    let days = (expires.unix_timestamp() - i64::try_from(unix_now()).unwrap()) / 86_400;
    assert!(
        (6..=31).contains(&days),
        "a remembered session lasts days (7 idle, 30 in all), not {days}: {remembered:?}"
    );
    assert_ne!(remembered.value(), session.value(), "a new session id at every sign-in");
    b.screenshot("account-remembered").await.unwrap();
    b.close().await;
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn account_sends_a_signed_out_visitor_to_login_and_back_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    let added = latchkey_tests::run_cli(
        server.data_dir(),
        &server.db,
        &["users", "add", "grace", "--email", "grace@example.com", "--display-name", "Grace Hopper"],
        &format!("{PASSWORD}\n"),
    )
    .unwrap();
    assert!(added.status.success(), "{}", added.stderr);
    let Some(mut b) = Browser::launch("account_requires_sign_in", &server.base_url).await else { return };

    b.open("/account").await.unwrap();
    b.wait_for_path("/login").await.unwrap();
    let path = b.path().await.unwrap();
    assert!(path.contains("return_to=%2Faccount") || path.contains("return_to=/account"), "{path}");
    let return_to = b.attr("input[type=hidden][name=return_to]", "value").await.unwrap();
    assert_eq!(return_to.as_deref(), Some("/account"), "the form carries where the visitor was going");
    for id in ["login", "password", "remember_me"] {
        assert!(b.exists(&format!("input#{id}[name={id}]")).await.unwrap(), "#{id} on the login form");
    }
    assert!(b.exists("input[type=hidden][name=csrf_token]").await.unwrap());
    b.screenshot("login").await.unwrap();

    // Signing in goes back to where the visitor was going, showing every fact about them.
    b.fill("login", "grace").await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.click_button("Sign in").await.unwrap();
    b.wait_for_path("/account").await.unwrap();
    let facts = b.text("dl.facts").await.unwrap();
    for fact in ["grace", "grace@example.com", "Grace Hopper"] {
        assert!(facts.contains(fact), "{fact:?} in {facts}");
    }
    assert!(b.exists("a[href=\"/logout\"]").await.unwrap(), "a way to sign out");
    b.screenshot("account").await.unwrap();

    // The same pages on a phone.
    b.set_viewport(390, 844).await.unwrap();
    b.screenshot("account-phone").await.unwrap();
    b.open("/logout").await.unwrap();
    b.click_button("Sign out").await.unwrap();
    b.open("/signup").await.unwrap();
    b.screenshot("signup-phone").await.unwrap();
    b.open("/login").await.unwrap();
    b.screenshot("login-phone").await.unwrap();
    b.close().await;
}
