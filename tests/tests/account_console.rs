//! The account console end to end, against the real binary on SQLite and on PostgreSQL: profile and
//! email changes, password changes (policy, signing out other sessions), the sessions list and
//! ending sessions (never another account's), revoking a connected application that got its tokens
//! through the real authorization code flow (the `openidconnect` crate as the relying party), and
//! the activity page. reqwest with a cookie store and no redirects plays the browser.
//!
//! The server keeps its default issuer (`http://127.0.0.1:8080`) while listening on a random port;
//! requests meant for the issuer are sent to the real address (as in `oidc_flow.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::http::{Browser, ISSUER, query_param};
use latchkey_tests::rp::Rp;
use latchkey_tests::{PASSWORD, Server, add_client};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    CsrfToken, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, Scope, TokenIntrospectionResponse as _,
};
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "copper-lantern-meadow-204";
const REDIRECT: &str = "https://rp.example/callback";
const TAKEN: &str = "That username or email cannot be used.";
const WRONG: &str = "That is not your current password.";
const INVALID: &str = "Incorrect username or password.";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                          Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// Signs up `username` (email `username@example.com`, [`PASSWORD`]); fails the test unless it works.
async fn signup(browser: &Browser, username: &str) {
    let page = browser.signup(username, &format!("{username}@example.com"), PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

fn password_change<'a>(current: &'a str, new: &'a str, confirm: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("current_password", current), ("new_password", new), ("new_password_confirm", confirm)]
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn profile_edit_and_email_change(server: &Server) {
    let alice = Browser::with_user_agent(server, FIREFOX);
    signup(&alice, "alice").await;
    signup(&Browser::with_user_agent(server, FIREFOX), "bob").await;

    let page = alice
        .submit(
            "/account/profile",
            "/account/profile",
            &[("display_name", "Alice Liddell"), ("email", "alice@example.com")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/account/profile"));
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    let profile = alice.get("/account/profile").await;
    assert!(profile.body.contains("Your profile has been saved."));
    assert!(alice.get("/account").await.body.contains("<dd>Alice Liddell</dd>"));

    // A new email with a wrong password, or none: refused, nothing said about the address.
    for password in ["", "not-my-password-123"] {
        let page = alice
            .submit(
                "/account/profile",
                "/account/profile",
                &[("display_name", "Alice Liddell"), ("email", "bob@example.com"), ("current_password", password)],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{password:?}");
        assert!(page.body.contains("id=\"current_password-error\""), "{password:?}");
        assert!(!page.body.contains(TAKEN), "{password:?}: the password is checked first");
    }
    // A taken email with the right password: the sign-up page's message, which names neither field.
    let page = alice
        .submit(
            "/account/profile",
            "/account/profile",
            &[("display_name", "Alice Liddell"), ("email", "BOB@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains(TAKEN), "{}", page.body);
    // A free one: changed, and unverified.
    let page = alice
        .submit(
            "/account/profile",
            "/account/profile",
            &[("display_name", "Alice Liddell"), ("email", "liddell@example.com"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let overview = alice.get("/account").await;
    assert!(
        overview.body.contains("liddell@example.com <span class=\"muted\">(not verified)</span>"),
        "{}",
        overview.body
    );
    // Sign-in follows the new address.
    let other = Browser::with_user_agent(server, SAFARI_IOS);
    assert!(other.login("alice@example.com", PASSWORD).await.body.contains(INVALID));
    assert_eq!(other.login("liddell@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

async fn password_change_with_policy_errors_and_signing_out_others(server: &Server) {
    let laptop = Browser::with_user_agent(server, FIREFOX);
    signup(&laptop, "alice").await;
    let phone = Browser::with_user_agent(server, SAFARI_IOS);
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);

    let page = laptop
        .submit("/account/password", "/account/password", &password_change(PASSWORD, "too-short", "too-short"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"new_password-error\">Use at least 15 characters;"), "{}", page.body);
    let page = laptop
        .submit(
            "/account/password",
            "/account/password",
            &password_change(PASSWORD, NEW_PASSWORD, "something-else-entirely"),
        )
        .await;
    assert!(page.body.contains("The two passwords do not match; type the same password twice."));
    let page = laptop
        .submit(
            "/account/password",
            "/account/password",
            &password_change("wrong-password-guess", NEW_PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert!(page.body.contains(WRONG));

    let mut fields = password_change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD);
    fields.push(("sign_out_others", "on"));
    let page = laptop.submit("/account/password", "/account/password", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(laptop.get("/account/password").await.body.contains("your other sessions have been signed out"));
    assert!(laptop.signed_in().await, "this session stays");
    assert!(!phone.signed_in().await, "the other browser is anonymous now");

    let fresh = Browser::with_user_agent(server, SAFARI_IOS);
    assert!(fresh.login("alice", PASSWORD).await.body.contains(INVALID), "the old password is gone");
    assert_eq!(fresh.login("alice", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);
}

async fn sessions_list_and_ending_sessions(server: &Server) {
    let laptop = Browser::with_user_agent(server, FIREFOX);
    signup(&laptop, "alice").await;
    let phone = Browser::with_user_agent(server, SAFARI_IOS);
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // Bob, signed in twice: his first browser sees the id of his second session.
    let bob1 = Browser::with_user_agent(server, FIREFOX);
    signup(&bob1, "bob").await;
    let bob2 = Browser::with_user_agent(server, FIREFOX);
    assert_eq!(bob2.login("bob", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let bobs_other = bob1.get("/account/sessions").await.fields("session_id");
    assert_eq!(bobs_other.len(), 1);

    let page = laptop.get("/account/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<li class=\"item").count(), 2, "{}", page.body);
    assert_eq!(page.body.matches("This device").count(), 1);
    assert!(page.body.contains("Firefox on Linux") && page.body.contains("Safari on iOS"));
    assert!(page.body.contains("127.0.0.1"), "the address of each session");
    let others = page.fields("session_id");
    assert_eq!(others.len(), 1, "only the other session can be ended here");

    // Bob's session id in alice's form: refused, bob stays signed in.
    let refused = laptop.submit("/account/sessions", "/account/sessions/end", &[("session_id", &bobs_other[0])]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(bob2.signed_in().await);

    // Her own other session: the phone is signed out.
    let page = laptop.submit("/account/sessions", "/account/sessions/end", &[("session_id", &others[0])]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = laptop.get("/account/sessions").await;
    assert!(page.body.contains("That session has been signed out."));
    assert_eq!(page.body.matches("<li class=\"item").count(), 1);
    assert!(!phone.signed_in().await);
    assert!(laptop.signed_in().await);

    // "All others" for bob: his second browser goes, the first stays, alice is untouched.
    let page = bob1.submit("/account/sessions", "/account/sessions/end-others", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(!bob2.signed_in().await && bob1.signed_in().await && laptop.signed_in().await);
}

/// Registers the confidential client `photos` through the CLI; returns its secret.
fn register_client(server: &Server) -> String {
    let scopes = ["--scope", "openid", "--scope", "email", "--scope", "offline_access"];
    add_client(server, "photos", &[&["--name", "Photo Album", "--redirect-uri", REDIRECT][..], &scopes].concat())
}

async fn revoking_a_connected_app_ends_its_tokens(server: &Server) {
    let secret = register_client(server);
    let browser = Browser::with_user_agent(server, FIREFOX);
    signup(&browser, "alice").await;
    assert!(browser.get("/account/apps").await.body.contains("No connected applications."));

    // The real code flow: authorize, consent, code exchange with PKCE.
    let rp = Rp::discover(&server.base_url, ISSUER, "photos", &secret, REDIRECT).await;
    let (client, http) = (&rp.client, &rp.http);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _state, _nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let consent = browser.get(auth_url.as_str()).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Photo Album"));
    let answer = browser.consent(&consent, "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let code = query_param(answer.location().unwrap(), "code").unwrap();
    let tokens = rp.exchange(code, verifier).await;
    let refresh = tokens.refresh_token().expect("offline_access was granted").clone();
    assert!(client.introspect(tokens.access_token()).request_async(http).await.unwrap().active());

    // The console lists it, in plain words.
    let apps = browser.get("/account/apps").await;
    assert!(apps.body.contains("Photo Album"), "{}", apps.body);
    assert!(apps.body.contains("Can see your email address and whether it is verified"));
    assert!(apps.body.contains("Can keep access while you are not using it"));
    assert_eq!(apps.fields("client_id"), vec!["photos".to_owned()]);

    let page = browser.submit("/account/apps", "/account/apps/revoke", &[("client_id", "photos")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let apps = browser.get("/account/apps").await;
    assert!(apps.body.contains("access has been revoked"));
    assert!(apps.body.contains("No connected applications."));

    // The application's tokens no longer work.
    assert!(client.exchange_refresh_token(&refresh).unwrap().request_async(http).await.is_err(), "refresh refused");
    assert!(!client.introspect(tokens.access_token()).request_async(http).await.unwrap().active(), "access inactive");
    let activity = browser.get("/account/activity").await;
    assert!(activity.body.contains("Revoked an application&#x27;s access"), "{}", activity.body);

    // The next authorization asks for consent again.
    let (auth_url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let again = browser.get(auth_url.as_str()).await;
    assert_eq!(again.status, StatusCode::OK, "the consent page again, not a redirect with a code");
    assert!(again.body.contains("Photo Album"));
}

async fn activity_shows_own_events_only(server: &Server) {
    let alice = Browser::with_user_agent(server, FIREFOX);
    signup(&alice, "alice").await;
    let bob = Browser::with_user_agent(server, FIREFOX);
    signup(&bob, "bob").await;
    let stranger = Browser::with_user_agent(server, SAFARI_IOS);
    assert!(stranger.login("alice", "wrong-password-one").await.body.contains(INVALID));
    for guess in ["wrong-password-two", "wrong-password-three"] {
        assert!(stranger.login("bob", guess).await.body.contains(INVALID));
    }
    bob.submit("/account/profile", "/account/profile", &[("display_name", "Bob"), ("email", "bob@example.com")]).await;

    let page = alice.get("/account/activity").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(page.body.matches("Failed sign-in attempt").count(), 1, "{}", page.body);
    assert!(page.body.contains("Safari on iOS"), "the device of the failed attempt");
    assert!(page.body.contains("Signed in") && page.body.contains("Account created"));
    assert!(!page.body.contains("Display name changed"), "bob's change is his");
    assert!(!page.body.contains("wrong_password") && !page.body.contains("remember_me"), "no server-side detail");
    let bobs = bob.get("/account/activity").await;
    assert_eq!(bobs.body.matches("Failed sign-in attempt").count(), 2);
    assert!(bobs.body.contains("Display name changed"));
}

// ---------------------------------------------------------------------------------------------
// Both databases
// ---------------------------------------------------------------------------------------------

latchkey_tests::on_both_databases!(
    profile_edit_and_email_change,
    password_change_with_policy_errors_and_signing_out_others,
    sessions_list_and_ending_sessions,
    revoking_a_connected_app_ends_its_tokens,
    activity_shows_own_events_only,
);
