//! The demo relying party (`latchkey-demo-rp`) against the real provider (`latchkey`), both as
//! real processes, driven in headless Chromium: what a person sees when signing in to a third-party
//! app with Latchkey, declining, and signing out. Screenshots of every page go to
//! `tests/output/screenshots/<test>/`.
//!
//! The demo's own handler tests (crates/demo-rp/tests/handlers.rs) cover each check against a
//! fake provider; these check that the two programs work together in a browser: redirects across
//! the two origins, the provider's sign-up, consent and end-session pages, cookies of both apps
//! in one jar (same host, different ports).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::Locator;
use latchkey_tests::browser::Browser;
use latchkey_tests::{Db, PASSWORD, Server, binary, capture_lines, free_port, wait_for_line};

const SECRET: &str = "browser-demo-test-secret-0123456789abcdef";

/// The provider on a fixed port (its issuer URL must be known up front: the browser follows it),
/// with the demo registered as a client for the demo's port, the way `config/latchkey.toml` does
/// for the default ports.
fn start_provider(port: u16, rp_port: u16) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/latchkey.toml"),
        format!(
            "[[clients]]\nid = \"demo-rp\"\nname = \"Latchkey demo\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"http://127.0.0.1:{rp_port}/callback\"]\n\
             post_logout_redirect_uris = [\"http://127.0.0.1:{rp_port}/\"]\n\
             scopes = [\"openid\", \"profile\", \"email\", \"roles\", \"offline_access\"]\n"
        ),
    )
    .unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    Server::start_listening(dir, Db::Sqlite, &format!("127.0.0.1:{port}"), &[("LATCHKEY_ISSUER", &issuer)]).unwrap()
}

/// A running `latchkey-demo-rp`, configured through its environment variables only.
struct DemoRp {
    child: Child,
    base_url: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl DemoRp {
    fn start(issuer: &str, port: u16, idle_timeout: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(binary("latchkey-demo-rp"));
        // An empty working directory: no config/demo-rp.toml, the variables below are the configuration.
        cmd.current_dir(dir.path()).env_remove("RUST_LOG");
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("LATCHKEY_DEMO_RP__")) {
            cmd.env_remove(name);
        }
        cmd.env("LATCHKEY_DEMO_RP__ISSUER", issuer)
            .env("LATCHKEY_DEMO_RP__CLIENT_SECRET", SECRET)
            .env("LATCHKEY_DEMO_RP__LISTEN", format!("127.0.0.1:{port}"))
            .env("LATCHKEY_DEMO_RP__PUBLIC_URL", &url)
            .env("LATCHKEY_DEMO_RP__IDLE_TIMEOUT", idle_timeout)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (log, lines) = capture_lines(child.stderr.take().unwrap());
        if wait_for_line(&lines, Duration::from_secs(30), |l| l.contains("listening on ")).is_none() {
            let _ = child.kill();
            panic!("latchkey-demo-rp did not start:\n{}", log.lock().unwrap());
        }
        Self { child, base_url: url, log, _dir: dir }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DemoRp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser's location: (port, path), to tell the demo's pages from the provider's.
async fn location(b: &Browser) -> (u16, String) {
    let url = b.client().current_url().await.unwrap();
    (url.port().unwrap_or(80), url.path().to_owned())
}

async fn wait_until_at(b: &Browser, port: u16, path: &str) {
    for _ in 0..200 {
        if location(b).await == (port, path.to_owned()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = b.client().current_url().await.unwrap();
    let text = b.page_text().await.unwrap_or_default();
    panic!("expected to be at 127.0.0.1:{port}{path}, but at {url}:\n{text}");
}

/// On the provider's sign-in page: follow "Create an account" and sign up.
async fn sign_up_on_provider(b: &mut Browser, provider_port: u16, username: &str) {
    wait_until_at(b, provider_port, "/login").await;
    b.screenshot("provider-login").await.unwrap();
    b.client().find(Locator::LinkText("Create an account")).await.unwrap().click().await.unwrap();
    wait_until_at(b, provider_port, "/signup").await;
    b.fill("username", username).await.unwrap();
    b.fill("email", &format!("{username}@example.com")).await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.fill("password_confirm", PASSWORD).await.unwrap();
    b.screenshot("provider-signup").await.unwrap();
    b.click_button("Create account").await.unwrap();
}

/// On the provider's consent page (at /authorize): it names the app, offers Allow and Deny.
async fn wait_for_consent(b: &mut Browser, provider_port: u16) {
    wait_until_at(b, provider_port, "/authorize").await;
    b.wait_for("button[value=allow]").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Latchkey demo"), "the consent page names the app:\n{text}");
    b.screenshot("provider-consent").await.unwrap();
}

#[tokio::test]
async fn demo_sign_up_consent_protected_page_and_sign_out_in_chromium() {
    let (provider_port, rp_port) = (free_port(), free_port());
    let provider = start_provider(provider_port, rp_port);
    let rp = DemoRp::start(&provider.base_url, rp_port, "1h");
    let Some(mut b) = Browser::launch("demo_sign_in_and_out", &rp.base_url).await else { return };

    // The demo's start page, signed out.
    b.open("/").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Sign in with Latchkey"), "{text}");
    b.screenshot("demo-signed-out").await.unwrap();

    // Sign in: to the provider, sign up there, allow, and back to the protected page.
    b.click_button("Sign in with Latchkey").await.unwrap();
    sign_up_on_provider(&mut b, provider_port, "ada").await;
    wait_for_consent(&mut b, provider_port).await;
    b.click_button("Allow").await.unwrap();
    wait_until_at(&b, rp_port, "/protected").await;
    assert_eq!(b.text("#name").await.unwrap(), "ada");
    assert!(b.text("#email").await.unwrap().contains("ada@example.com"));
    let claims = b.text("table.claims").await.unwrap();
    for claim in ["iss", "sub", "aud", "exp", "nonce", &provider.base_url] {
        assert!(claims.contains(claim), "{claim} in the claims table:\n{claims}");
    }
    assert!(b.text("#session-expiry").await.unwrap().contains("Ends at"));
    b.screenshot("demo-protected").await.unwrap();
    // Only ids in the demo's cookies: no token in the browser.
    for cookie in b.cookies().await.unwrap() {
        assert!(!cookie.value().contains("eyJ"), "{cookie:?}");
        assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
    }

    // Sign out: the demo's session ends, and the provider's end-session endpoint, given a valid
    // id_token_hint, ends its own without asking and sends the browser back with "You have been
    // signed out". A confirmation page on the way would mean the hint was not accepted.
    b.click_button("Sign out").await.unwrap();
    for _ in 0..200 {
        if location(&b).await.0 == rp_port {
            break;
        }
        assert!(
            !b.exists("button[value=logout]").await.unwrap(),
            "the provider asked to confirm the sign-out: the demo's id_token_hint was refused\n{}",
            rp.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until_at(&b, rp_port, "/").await;
    let text = b.page_text().await.unwrap();
    assert!(text.contains("You have been signed out"), "{text}\n{}", rp.log());
    b.screenshot("demo-signed-out-again").await.unwrap();

    // The app session is gone...
    b.open("/protected").await.unwrap();
    wait_until_at(&b, rp_port, "/").await;
    assert!(b.page_text().await.unwrap().contains("Please sign in"));
    // ...and so is the provider's: a new sign-in asks for the password again.
    b.click_button("Sign in with Latchkey").await.unwrap();
    wait_until_at(&b, provider_port, "/login").await;
    assert!(b.exists("input#password").await.unwrap());
    b.screenshot("provider-asks-password-again").await.unwrap();
    b.fill("login", "ada").await.unwrap();
    b.fill("password", PASSWORD).await.unwrap();
    b.click_button("Sign in").await.unwrap();
    // Consent is remembered: straight back to the protected page.
    wait_until_at(&b, rp_port, "/protected").await;
    assert_eq!(b.text("#name").await.unwrap(), "ada");
    b.close().await;
}

#[tokio::test]
async fn demo_shows_deny_and_tampered_state_pages_and_expires_idle_sessions_in_chromium() {
    let (provider_port, rp_port) = (free_port(), free_port());
    let provider = start_provider(provider_port, rp_port);
    // A short idle timeout for this run; the one-hour default is pinned by the demo's unit tests.
    let rp = DemoRp::start(&provider.base_url, rp_port, "4s");
    let Some(mut b) = Browser::launch("demo_errors_and_idle_expiry", &rp.base_url).await else { return };

    // Deny on the consent page: the provider returns access_denied, the demo says so.
    b.open("/").await.unwrap();
    b.click_button("Sign in with Latchkey").await.unwrap();
    sign_up_on_provider(&mut b, provider_port, "grace").await;
    wait_for_consent(&mut b, provider_port).await;
    b.click_button("Deny").await.unwrap();
    wait_until_at(&b, rp_port, "/callback").await;
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Sign-in cancelled") && text.contains("access_denied"), "{text}");
    assert!(b.exists("button[type=submit]").await.unwrap(), "a Try again button");
    b.screenshot("demo-access-denied").await.unwrap();

    // A tampered state: the authorization request is replayed with another state, the provider
    // sends that one back, and the demo refuses it.
    b.click_button("Try again").await.unwrap();
    wait_for_consent(&mut b, provider_port).await;
    let mut authorize = b.client().current_url().await.unwrap();
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { format!("tampered-{v}") } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    assert!(pairs.iter().any(|(k, _)| k == "state"), "the consent page is at the authorize URL: {authorize}");
    authorize.query_pairs_mut().clear().extend_pairs(&pairs);
    b.client().goto(authorize.as_str()).await.unwrap();
    wait_for_consent(&mut b, provider_port).await;
    b.click_button("Allow").await.unwrap();
    wait_until_at(&b, rp_port, "/callback").await;
    let text = b.page_text().await.unwrap();
    assert!(text.contains("does not match"), "{text}");
    b.screenshot("demo-state-mismatch").await.unwrap();

    // A clean sign-in (consent is remembered now), then idle past the timeout.
    b.click_button("Try again").await.unwrap();
    wait_until_at(&b, rp_port, "/protected").await;
    assert_eq!(b.text("#name").await.unwrap(), "grace");
    b.open("/protected").await.unwrap(); // a request within the timeout slides the session
    assert_eq!(location(&b).await, (rp_port, "/protected".to_owned()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.open("/protected").await.unwrap();
    wait_until_at(&b, rp_port, "/").await;
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Your session expired"), "{text}");
    b.screenshot("demo-session-expired").await.unwrap();
    b.close().await;
}

#[tokio::test]
async fn demo_shows_unreachable_when_the_provider_is_down_at_callback_in_chromium() {
    let (provider_port, rp_port) = (free_port(), free_port());
    let provider = start_provider(provider_port, rp_port);
    let rp = DemoRp::start(&provider.base_url, rp_port, "1h");
    let Some(mut b) = Browser::launch("demo_provider_down", &rp.base_url).await else { return };

    // Start a sign-in; the browser reaches the provider, which asks the person to sign in.
    b.open("/").await.unwrap();
    b.click_button("Sign in with Latchkey").await.unwrap();
    wait_until_at(&b, provider_port, "/login").await;
    // The state the demo sent is in the authorization request the provider will resume.
    let url = b.client().current_url().await.unwrap();
    let return_to: String = url.query_pairs().find(|(k, _)| k == "return_to").expect("return_to").1.into();
    let resumed = reqwest::Url::parse(&provider.base_url).unwrap().join(&return_to).unwrap();
    let state: String = resumed.query_pairs().find(|(k, _)| k == "state").expect("state").1.into();

    // The provider goes away; the browser arrives at the callback as if it had sent it back.
    let issuer = provider.base_url.clone();
    provider.stop().unwrap();
    let callback = reqwest::Url::parse_with_params(
        &format!("{}/callback", rp.base_url),
        [("code", "some-code"), ("state", state.as_str()), ("iss", issuer.as_str())],
    )
    .unwrap();
    b.client().goto(callback.as_str()).await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("Latchkey is not reachable"), "{text}\n{}", rp.log());
    assert!(b.exists("button[type=submit]").await.unwrap(), "a Try again button");
    b.screenshot("demo-provider-unreachable").await.unwrap();
    b.close().await;
}
