//! The admin console in headless Chromium, with a screenshot of every page in
//! `tests/output/screenshots/<test>/`: the first-administrator setup link; registering a client in
//! the console and signing in to it with the `openidconnect` crate as the relying party (ID token
//! verified, `roles` claim present); and disabling an account, through its confirmation page, while
//! its owner watches their session end in another browser.
//!
//! HTTP-level tests (tests/admin.rs) cover each rule on both databases; these check that the real
//! pages work as a whole in a real browser.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::browser::Browser;
use latchkey_tests::rp::Rp;
use latchkey_tests::{Db, PASSWORD, Server, add_user, base64url_decode, free_port};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope, TokenResponse as _};

async fn sign_in(b: &Browser, name: &str) {
    b.open("/login").await.unwrap();
    b.fill("login", name).await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.click_button("Sign in").await.unwrap();
    b.wait_for_path("/account").await.unwrap();
}

#[tokio::test]
async fn first_admin_setup_link_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    let log = server.log();
    let line = log.lines().find(|l| l.contains("/setup?token=")).expect("the setup link is logged");
    let start = line.find("/setup?token=").unwrap();
    let path = line[start..].split_whitespace().next().unwrap().to_owned();
    let Some(mut b) = Browser::launch("admin_setup_link", &server.base_url).await else { return };

    b.open(&path).await.unwrap();
    b.screenshot("setup-form").await.unwrap();
    b.fill("username", "boss").await.unwrap();
    b.fill("email", "boss@example.com").await.unwrap();
    b.fill("password", "password").await.unwrap();
    b.fill("password_confirm", "password").await.unwrap();
    b.click_button("Create the administrator").await.unwrap();
    b.wait_for("p.field-error#password-error").await.unwrap();
    b.screenshot("setup-weak-password").await.unwrap();

    b.fill("password", PASSWORD).await.unwrap();
    b.fill("password_confirm", PASSWORD).await.unwrap();
    b.click_button("Create the administrator").await.unwrap();
    b.wait_for_path("/admin").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("your administrator account is ready"), "{text}");
    assert_eq!(b.text("#stat-accounts").await.unwrap(), "1");
    b.screenshot("admin-overview").await.unwrap();

    // The link is spent.
    b.open(&path).await.unwrap();
    let text = b.text("#setup-problem").await.unwrap();
    assert!(text.contains("already been used"), "{text}");
    b.screenshot("setup-link-used").await.unwrap();
    b.close().await;
}

#[tokio::test]
async fn client_registered_in_the_console_signs_in_with_openidconnect() {
    // The issuer must be the address the browser and the relying party use.
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start_listening(dir, Db::Sqlite, &format!("127.0.0.1:{port}"), &[("LATCHKEY_ISSUER", &issuer)])
            .unwrap();
    add_user(&server, "root", true);
    let Some(mut b) = Browser::launch("admin_client_signin", &server.base_url).await else { return };
    sign_in(&b, "root").await;

    // Register a first-party confidential client; the redirect URI is a page of the server itself
    // (loopback http is allowed), so the browser lands somewhere real with the code.
    let redirect = format!("{issuer}/healthz");
    b.open("/admin/clients/new").await.unwrap();
    b.fill("client_id", "console-app").await.unwrap();
    b.fill("name", "Console App").await.unwrap();
    b.fill("redirect_uris", &redirect).await.unwrap();
    b.fill("scopes", "openid profile email roles").await.unwrap();
    b.set_checked("first_party", true).await.unwrap();
    b.screenshot("client-form").await.unwrap();
    b.click_button("Register").await.unwrap();
    b.wait_for("#client-secret").await.unwrap();
    let secret = b.text("#client-secret").await.unwrap();
    assert_eq!(secret.len(), 43);
    b.screenshot("client-secret-shown-once").await.unwrap();

    // The relying party: discovery, PKCE, nonce.
    let rp = Rp::discover(&server.base_url, &issuer, "console-app", &secret, &redirect).await;
    let client = &rp.client;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("roles".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The signed-in administrator's browser follows it; first-party: no consent screen.
    b.client().goto(auth_url.as_str()).await.unwrap();
    b.wait_for_path("/healthz").await.ok();
    let landed = b.client().current_url().await.unwrap();
    assert!(landed.as_str().starts_with(&redirect), "{landed}");
    let pairs: Vec<(String, String)> = landed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(param("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(param("iss").as_deref(), Some(issuer.as_str()));
    let code = param("code").expect("an authorization code");

    let tokens = rp.exchange(code, verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("root"));
    // The roles claim, read from the verified token's payload.
    let payload = id_token.to_string().split('.').nth(1).unwrap().to_owned();
    let json = String::from_utf8(base64url_decode(&payload)).unwrap();
    assert!(json.contains("\"roles\":[\"admin\"]"), "{json}");
    b.screenshot("redirected-with-code").await.unwrap();

    // The console's audit log shows the client's creation by this administrator.
    b.open("/admin/audit?client=console-app").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("admin.client.created"), "{text}");
    b.screenshot("audit-client-created").await.unwrap();
    b.close().await;
}

#[tokio::test]
async fn disabling_an_account_ends_its_session_in_chromium() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    add_user(&server, "root", true);
    add_user(&server, "victim", false);
    let Some(mut admin) = Browser::launch("admin_disable_account", &server.base_url).await else { return };
    let Some(mut victim) = Browser::launch("admin_disable_account_victim", &server.base_url).await else { return };
    sign_in(&victim, "victim").await;
    victim.screenshot("victim-signed-in").await.unwrap();

    sign_in(&admin, "root").await;
    admin.open("/admin/accounts?q=victim").await.unwrap();
    admin.screenshot("accounts-search").await.unwrap();
    let href = admin.attr("#accounts tbody a", "href").await.unwrap().unwrap();
    admin.click_link(&href).await.unwrap();
    admin.wait_for("#disable-link").await.unwrap();
    assert!(admin.exists("#sessions").await.unwrap(), "the victim's session is listed");
    admin.screenshot("account-before").await.unwrap();

    // Disabling asks first, saying what it cuts off; nothing has happened yet.
    let confirm = admin.attr("#disable-link", "href").await.unwrap().unwrap();
    admin.click_link(&confirm).await.unwrap();
    admin.wait_for("#confirm-form").await.unwrap();
    assert_eq!(admin.path().await.unwrap(), format!("{href}/disable"));
    let text = admin.text("#confirm-message").await.unwrap();
    assert!(text.contains("Disable victim (victim@example.com)? Their 1 active session ends;"), "{text}");
    assert!(text.contains("they cannot sign in until the account is enabled again"), "{text}");
    admin.screenshot("disable-confirmation").await.unwrap();
    victim.open("/account").await.unwrap();
    victim.wait_for_path("/account").await.unwrap();
    admin.click_button("Disable the account").await.unwrap();
    admin.wait_for("#enable-form").await.unwrap();
    let text = admin.page_text().await.unwrap();
    assert!(text.contains("victim is disabled: 1 session(s) ended"), "{text}");
    assert_eq!(admin.text("#status").await.unwrap(), "disabled");
    admin.screenshot("account-disabled").await.unwrap();

    // The victim's next request is anonymous: back to the sign-in page.
    victim.open("/account").await.unwrap();
    victim.wait_for_path("/login").await.unwrap();
    victim.screenshot("victim-signed-out").await.unwrap();
    victim.fill("login", "victim").await.unwrap();
    victim.fill("password", PASSWORD).await.unwrap();
    victim.click_button("Sign in").await.unwrap();
    let text = victim.page_text().await.unwrap();
    assert!(text.contains("Incorrect username or password"), "{text}");
    victim.screenshot("victim-cannot-sign-in").await.unwrap();
    admin.close().await;
    victim.close().await;
}
