//! The account console in headless Chromium: a person allows an application, finds it under
//! "Connected apps" and revokes it, looks at their sessions, edits their profile and changes their
//! password (with a field error first, then signing out their other session). Screenshots of every
//! console page, desktop and phone, go to `tests/output/screenshots/account_console/`.
//!
//! The HTTP-level rules are in `account_console.rs`; this checks the real pages as a whole.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::browser::Browser;
use latchkey_tests::http::{Browser as HttpBrowser, url_encode};
use latchkey_tests::{Db, PASSWORD, Server, add_client};

const NEW_PASSWORD: &str = "copper-lantern-meadow-204";
const REDIRECT: &str = "https://photos.example/callback";
/// RFC 7636 Appendix B's S256 challenge: the authorization request needs one; this test never
/// exchanges the code.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                        Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

fn register_client(server: &Server) {
    let scopes = ["--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "offline_access"];
    add_client(server, "photos", &[&["--name", "Photo Album", "--redirect-uri", REDIRECT][..], &scopes].concat());
}

/// A second device of the same person, signed in over plain HTTP (a phone, by its user agent).
async fn phone_signed_in(server: &Server) -> HttpBrowser {
    let phone = HttpBrowser::with_user_agent(server, PHONE_UA);
    phone.sign_in("ada", PASSWORD).await;
    phone
}

#[tokio::test]
async fn a_person_revokes_an_application_and_changes_their_password_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    register_client(&server);
    let Some(mut b) = Browser::launch("account_console", &server.base_url).await else { return };

    // Sign up; the console opens on the overview.
    b.open("/signup").await.unwrap();
    b.fill("username", "ada").await.unwrap();
    b.fill("email", "ada@example.com").await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.fill("password_confirm", PASSWORD).await.unwrap();
    b.click_button("Create account").await.unwrap();
    b.wait_for_path("/account").await.unwrap();
    b.wait_for("nav.console-nav a[aria-current=page][href=\"/account\"]").await.unwrap();
    let facts = b.text("dl.facts").await.unwrap();
    assert!(facts.contains("ada@example.com"), "{facts}");

    // Allow the application through the real authorization request and consent page.
    let authorize = format!(
        "/authorize?response_type=code&client_id=photos&redirect_uri={}&scope=openid%20profile%20email%20offline_access\
         &state=s1&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        url_encode(REDIRECT)
    );
    b.open(&authorize).await.unwrap();
    b.wait_for("form[action=\"/consent\"]").await.unwrap();
    b.screenshot("consent").await.unwrap();
    b.click_button("Allow").await.unwrap();
    // The browser leaves for the application (which this sandbox cannot reach); the consent is kept.
    b.open("/account").await.unwrap();

    // A second device, so the sessions page has two.
    let phone = phone_signed_in(&server).await;
    b.open("/account").await.unwrap();
    b.screenshot("overview").await.unwrap();

    // Connected apps: listed with its permissions in words; revoked.
    b.click_link("/account/apps").await.unwrap();
    b.wait_for_path("/account/apps").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Photo Album"), "{text}");
    assert!(text.contains("Can see your email address and whether it is verified"), "{text}");
    b.screenshot("apps").await.unwrap();
    b.click_button("Revoke access").await.unwrap();
    b.wait_for("div.flash.success[role=status]").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("access has been revoked"), "{text}");
    assert!(text.contains("No connected applications."), "{text}");
    assert!(!text.contains("Photo Album"), "{text}");
    b.screenshot("apps-revoked").await.unwrap();

    // Sessions: this browser and the phone.
    b.click_link("/account/sessions").await.unwrap();
    b.wait_for_path("/account/sessions").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("This device") && text.contains("Safari on iOS"), "{text}");
    assert!(text.contains("Headless Chrome on Linux"), "{text}");
    b.screenshot("sessions").await.unwrap();

    // Profile: a display name.
    b.click_link("/account/profile").await.unwrap();
    b.wait_for_path("/account/profile").await.unwrap();
    b.fill("display_name", "Ada Lovelace").await.unwrap();
    b.click_button("Save profile").await.unwrap();
    b.wait_for("div.flash.success[role=status]").await.unwrap();
    assert_eq!(b.value("display_name").await.unwrap(), "Ada Lovelace");
    b.screenshot("profile-saved").await.unwrap();

    // Password: a weak one first (the error is tied to its field), then a good one, signing out the phone.
    b.click_link("/account/password").await.unwrap();
    b.wait_for_path("/account/password").await.unwrap();
    b.screenshot("password").await.unwrap();
    b.fill("current_password", PASSWORD).await.unwrap();
    b.fill("new_password", "too-short").await.unwrap();
    b.fill("new_password_confirm", "too-short").await.unwrap();
    b.click_button("Change password").await.unwrap();
    b.wait_for("p.field-error#new_password-error").await.unwrap();
    let described_by = b.attr("input#new_password", "aria-describedby").await.unwrap().unwrap_or_default();
    assert_eq!(described_by, "new_password-error");
    assert_eq!(b.value("current_password").await.unwrap(), "", "passwords are never sent back");
    b.screenshot("password-field-error").await.unwrap();
    b.fill("current_password", PASSWORD).await.unwrap();
    b.fill("new_password", NEW_PASSWORD).await.unwrap();
    b.fill("new_password_confirm", NEW_PASSWORD).await.unwrap();
    b.set_checked("sign_out_others", true).await.unwrap();
    b.click_button("Change password").await.unwrap();
    b.wait_for("div.flash.success[role=status]").await.unwrap();
    let flash = b.text("div.flash.success").await.unwrap();
    assert!(flash.contains("your other sessions have been signed out"), "{flash}");
    b.screenshot("password-changed").await.unwrap();
    assert!(!phone.signed_in().await, "the phone was signed out");

    // Activity: what just happened, in words.
    b.click_link("/account/activity").await.unwrap();
    b.wait_for_path("/account/activity").await.unwrap();
    let text = b.page_text().await.unwrap();
    for what in ["Password changed", "Revoked an application's access", "Display name changed", "Signed in"] {
        assert!(text.contains(what), "{what}: {text}");
    }
    b.screenshot("activity").await.unwrap();

    // Every page on a phone.
    b.set_viewport(390, 844).await.unwrap();
    for (path, name) in [
        ("/account", "overview"),
        ("/account/profile", "profile"),
        ("/account/password", "password"),
        ("/account/sessions", "sessions"),
        ("/account/apps", "apps"),
        ("/account/activity", "activity"),
    ] {
        b.open(path).await.unwrap();
        b.wait_for("nav.console-nav").await.unwrap();
        b.screenshot(&format!("phone-{name}")).await.unwrap();
    }
    b.close().await;
}
