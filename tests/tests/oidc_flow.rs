//! The authorization code flow end to end, against the real binary on SQLite and PostgreSQL, with
//! the `openidconnect` crate as the relying party and reqwest (cookie store on, redirects off) as
//! the browser: discovery, an authorization URL with PKCE and a nonce, sign-in through the real
//! `/login` page, consent, code exchange, ID token verification, userinfo, refresh, introspection,
//! revocation and RP-initiated logout (after which `prompt=none` gives `login_required`). Also: a
//! password change required by an administrator interrupts the flow (no code, `prompt=none` gives
//! `interaction_required`) and the flow resumes after the change, ending at the client with a code.
//!
//! The server keeps its default issuer (`http://127.0.0.1:8080`) while it listens on a random port,
//! so both HTTP clients send every request to the real address: the issuer, the discovery
//! document and the ID tokens stay exactly as a deployed relying party would see them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::http::{Browser, ISSUER, Page, admin_token, query_param, url_encode};
use latchkey_tests::rp::Rp;
use latchkey_tests::{Db, PASSWORD, Server, TempPostgres, add_client, add_user};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, CsrfToken, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, Scope,
    TokenIntrospectionResponse as _, TokenResponse as _,
};
use reqwest::StatusCode;

const REDIRECT: &str = "https://rp.example/callback";
const POST_LOGOUT: &str = "https://rp.example/signed-out";

/// alice, and the confidential client `rp-web`; returns its secret.
fn setup(server: &Server) -> String {
    add_user(server, "alice", false);
    let scopes = ["--scope", "openid", "--scope", "profile", "--scope", "email", "--scope", "offline_access"];
    let args =
        [&["--name", "Example RP", "--redirect-uri", REDIRECT, "--post-logout-redirect-uri", POST_LOGOUT][..], &scopes]
            .concat();
    add_client(server, "rp-web", &args)
}

/// Signs in through the real `/login` page the authorization request led to (`login_page`, with its
/// `return_to`); returns that `return_to` and the answer to the form.
async fn sign_in_from(browser: &Browser, login_page: &str, login: &str) -> (String, Page) {
    let page = browser.get(login_page).await;
    assert_eq!(page.status, StatusCode::OK);
    let (csrf, return_to) = (page.csrf_token(), page.field("return_to"));
    let fields = [("csrf_token", csrf.as_str()), ("return_to", &return_to), ("login", login), ("password", PASSWORD)];
    let answer = browser.post("/login", &fields).await;
    (return_to, answer)
}

async fn scenario(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    let secret = setup(&server);

    // Discovery, through the relying-party library.
    let rp = Rp::discover(&server.base_url, ISSUER, "rp-web", &secret, REDIRECT).await;
    let (client, http) = (&rp.client, &rp.http);

    // The authorization URL, with PKCE (S256) and a nonce.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: sent to sign in, signs in through the real page, comes back, consents.
    let browser = Browser::new(&server);
    let page = browser.get(auth_url.as_str()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let login = page.location().unwrap().to_owned();
    assert!(login.starts_with("/login?return_to="), "{login}");
    let (return_to, signed_in) = sign_in_from(&browser, &login, "alice").await;
    assert!(return_to.starts_with("/authorize?"), "{return_to}");
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), Some(return_to.as_str()));
    let consent = browser.get(&return_to).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Example RP"), "{}", consent.body);
    let answer = browser.consent(&consent, "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let callback = answer.location().unwrap();
    assert!(callback.starts_with(REDIRECT), "{callback}");
    assert_eq!(query_param(callback, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query_param(callback, "iss").as_deref(), Some(ISSUER));
    let code = query_param(callback, "code").unwrap();

    // The code exchange with the PKCE verifier, and the ID token verified by the library.
    let tokens = rp.exchange(code, verifier).await;
    let id_token = tokens.id_token().expect("an ID token").clone();
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("alice"));
    let refresh = tokens.refresh_token().expect("offline_access was granted").clone();

    // Userinfo: the same subject as the ID token (checked by the library).
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // Refresh: a new access token and a rotated refresh token; the old access token stays valid.
    let refreshed = client.exchange_refresh_token(&refresh).unwrap().request_async(http).await.unwrap();
    let new_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    let introspected = client.introspect(refreshed.access_token()).request_async(http).await.unwrap();
    assert!(introspected.active());
    assert_eq!(introspected.client_id().map(|c| c.as_str()), Some("rp-web"));

    // Revocation of the refresh token ends its family at introspection.
    // (oauth2 refuses a revocation URL over plain http, so this one request is made by hand.)
    let revoked = reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth("rp-web", Some(&secret))
        .form(&[("token", new_refresh.secret().as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(client.exchange_refresh_token(&new_refresh).unwrap().request_async(http).await.is_err());
    let gone = client.introspect(refreshed.access_token()).request_async(http).await.unwrap();
    assert!(!gone.active(), "revoking a refresh token revokes its family");

    // RP-initiated logout with the ID token as hint: back to the registered URI with state.
    let end = format!(
        "/end_session?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        id_token,
        url_encode(POST_LOGOUT)
    );
    let page = browser.get(&end).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some(format!("{POST_LOGOUT}?state=bye").as_str()));

    // Afterwards prompt=none: login_required.
    let (auth_url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_prompt(CoreAuthPrompt::None)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let page = browser.get(auth_url.as_str()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(query_param(page.location().unwrap(), "error").as_deref(), Some("login_required"));
}

/// An account whose administrator requires a new password, created through the admin API.
async fn account_with_required_change(server: &Server, username: &str) {
    let token = admin_token(server, "ops-bot", &[]).await;
    let created = reqwest::Client::new()
        .post(server.url("/admin/api/v1/accounts"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
            "require_password_change": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
}

async fn required_change_scenario(db: Db) {
    const NEW_PASSWORD: &str = "copper-lantern-meadow-204";
    let server = Server::start(db, &[]).unwrap();
    let secret = setup(&server);
    account_with_required_change(&server, "carol").await;
    let rp = Rp::discover(&server.base_url, ISSUER, "rp-web", &secret, REDIRECT).await;
    let client = &rp.client;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Sign-in with the old password leads to the password page, the authorization request kept.
    let browser = Browser::new(&server);
    let login = browser.get(auth_url.as_str()).await;
    let (return_to, signed_in) = sign_in_from(&browser, login.location().unwrap(), "carol").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let password_page = signed_in.location().unwrap().to_owned();
    assert_eq!(password_page, format!("/account/password?return_to={}", url_encode(&return_to)));

    // Meanwhile the authorization request gives no code: interaction_required under prompt=none,
    // the password page otherwise; nor does the rest of the account console open.
    let (silent, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_prompt(CoreAuthPrompt::None)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let page = browser.get(silent.as_str()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.location().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(location, "error").as_deref(), Some("interaction_required"));
    assert_eq!(query_param(location, "code"), None);
    assert_eq!(browser.get(&return_to).await.location(), Some(password_page.as_str()));
    let page = browser.get("/account/sessions").await;
    assert_eq!(page.location(), Some("/account/password?return_to=%2Faccount%2Fsessions"));

    // The change resumes the request: consent, then the client gets a code that works.
    let page = browser.get(&password_page).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your administrator asks you to choose a new password"), "{}", page.body);
    assert_eq!(page.field("return_to"), return_to);
    let changed = browser
        .post(
            "/account/password",
            &[
                ("csrf_token", &page.csrf_token()),
                ("return_to", &return_to),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), Some(return_to.as_str()));
    let consent = browser.get(&return_to).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let answer = browser.consent(&consent, "allow").await;
    let callback = answer.location().unwrap();
    assert!(callback.starts_with(REDIRECT), "{callback}");
    assert_eq!(query_param(callback, "state").as_deref(), Some(state.secret().as_str()));
    let code = query_param(callback, "code").unwrap();
    let tokens = rp.exchange(code, verifier).await;
    let claims = tokens.id_token().expect("an ID token").claims(&client.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("carol"));
}

#[tokio::test]
async fn oidc_flow_on_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn oidc_flow_on_postgres() {
    let Some(pg) = TempPostgres::create().await else { return };
    scenario(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}

#[tokio::test]
async fn a_required_password_change_interrupts_and_resumes_the_flow_on_sqlite() {
    required_change_scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn a_required_password_change_interrupts_and_resumes_the_flow_on_postgres() {
    let Some(pg) = TempPostgres::create().await else { return };
    required_change_scenario(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}
