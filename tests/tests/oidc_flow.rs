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

use std::sync::Arc;

use latchkey_tests::{Db, Server, TempPostgres, run_cli};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IntrospectionUrl,
    IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenIntrospectionResponse as _,
    TokenResponse as _,
};
use reqwest::cookie::Jar;
use reqwest::{StatusCode, Url};

const PASSWORD: &str = "violet-tractor-sunrise-917";
const ISSUER: &str = "http://127.0.0.1:8080";
const REDIRECT: &str = "https://rp.example/callback";
const POST_LOGOUT: &str = "https://rp.example/signed-out";

/// Sends a request meant for the issuer's address to the server's real one.
fn to_server(url: &str, base: &str) -> String {
    match url.strip_prefix(ISSUER) {
        Some(rest) => format!("{base}{rest}"),
        None => url.to_owned(),
    }
}

/// The relying party's HTTP client: no redirects (openidconnect requires that, against SSRF).
fn rp_http(
    base: String,
) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, std::io::Error>>>> {
    let client = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |req: HttpRequest| {
        let client = client.clone();
        let url = to_server(&req.uri().to_string(), &base);
        Box::pin(async move {
            let io = |e: openidconnect::reqwest::Error| std::io::Error::other(e.to_string());
            let mut builder = client.request(req.method().clone(), url).body(req.body().clone());
            for (name, value) in req.headers() {
                builder = builder.header(name, value);
            }
            let res = builder.send().await.map_err(io)?;
            let mut out = openidconnect::http::Response::builder().status(res.status());
            for (name, value) in res.headers() {
                out = out.header(name, value);
            }
            let body = res.bytes().await.map_err(io)?.to_vec();
            out.body(body).map_err(std::io::Error::other)
        })
    }
}

struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(server: &Server) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::new(Jar::default()))
            .build()
            .unwrap();
        Self { client, base: server.base_url.clone() }
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with('/') { format!("{}{target}", self.base) } else { to_server(target, &self.base) }
    }

    async fn get(&self, target: &str) -> (StatusCode, Option<String>, String) {
        let res = self.client.get(self.url(target)).send().await.unwrap();
        Self::read(res).await
    }

    async fn post(&self, target: &str, form: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        let res = self.client.post(self.url(target)).header("origin", &self.base).form(form).send().await.unwrap();
        Self::read(res).await
    }

    async fn read(res: reqwest::Response) -> (StatusCode, Option<String>, String) {
        let status = res.status();
        let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no {name} in {body}")) + marker.len();
    let raw = body[start..].split('"').next().unwrap();
    // Undo tera's attribute escaping of the few characters these values contain.
    raw.replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
}

fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn setup(server: &Server, db: &Db) -> String {
    let out = run_cli(
        server.data_dir(),
        db,
        &["users", "add", "alice", "--email", "alice@example.com"],
        &format!("{PASSWORD}\n"),
    )
    .unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    let out = run_cli(
        server.data_dir(),
        db,
        &[
            "clients",
            "add",
            "rp-web",
            "--name",
            "Example RP",
            "--redirect-uri",
            REDIRECT,
            "--post-logout-redirect-uri",
            POST_LOGOUT,
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
            "--scope",
            "offline_access",
        ],
        "",
    )
    .unwrap();
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    out.stdout
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .expect("the secret is printed once")
        .trim()
        .to_owned()
}

async fn scenario(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    let secret = setup(&server, &db);
    let http = rp_http(server.base_url.clone());

    // Discovery, through the relying-party library.
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(ISSUER.into()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("rp-web".into()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(format!("{ISSUER}/introspect")).unwrap());

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
    let (status, location, _) = browser.get(auth_url.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let login = location.unwrap();
    assert!(login.starts_with("/login?return_to="), "{login}");
    let (status, _, page) = browser.get(&login).await;
    assert_eq!(status, StatusCode::OK);
    let (csrf, return_to) = (hidden(&page, "csrf_token"), hidden(&page, "return_to"));
    assert!(return_to.starts_with("/authorize?"), "{return_to}");
    let (status, location, _) = browser
        .post("/login", &[("csrf_token", &csrf), ("return_to", &return_to), ("login", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(return_to.as_str()));
    let (status, _, consent) = browser.get(&return_to).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert!(consent.contains("Example RP"), "{consent}");
    let (status, location, body) = browser
        .post(
            "/consent",
            &[
                ("csrf_token", &hidden(&consent, "csrf_token")),
                ("request", &hidden(&consent, "request")),
                ("issued_at", &hidden(&consent, "issued_at")),
                ("ticket", &hidden(&consent, "ticket")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let callback = location.unwrap();
    assert!(callback.starts_with(REDIRECT), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(ISSUER));
    let code = query_param(&callback, "code").unwrap();

    // The code exchange with the PKCE verifier, and the ID token verified by the library.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
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
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // Refresh: a new access token and a rotated refresh token; the old access token stays valid.
    let refreshed = client.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.unwrap();
    let new_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    let introspected = client.introspect(refreshed.access_token()).request_async(&http).await.unwrap();
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
    assert!(client.exchange_refresh_token(&new_refresh).unwrap().request_async(&http).await.is_err());
    let gone = client.introspect(refreshed.access_token()).request_async(&http).await.unwrap();
    assert!(!gone.active(), "revoking a refresh token revokes its family");

    // RP-initiated logout with the ID token as hint: back to the registered URI with state.
    let end = format!(
        "/end_session?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        id_token,
        url_encode(POST_LOGOUT)
    );
    let (status, location, _) = browser.get(&end).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(format!("{POST_LOGOUT}?state=bye").as_str()));

    // Afterwards prompt=none: login_required.
    let (auth_url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_prompt(CoreAuthPrompt::None)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let (status, location, _) = browser.get(auth_url.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(query_param(&location.unwrap(), "error").as_deref(), Some("login_required"));
}

/// The secret `latchkey clients add` prints once.
fn printed_secret(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .expect("the secret is printed once")
        .trim()
        .to_owned()
}

/// An account whose administrator requires a new password, created through the admin API.
async fn account_with_required_change(server: &Server, db: &Db, username: &str) {
    let args = [
        "clients",
        "add",
        "ops-bot",
        "--redirect-uri",
        "https://ops.example/unused",
        "--grant",
        "client_credentials",
        "--scope",
        "latchkey:admin",
    ];
    let out = run_cli(server.data_dir(), db, &args, "").unwrap();
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(server.url("/token"))
        .basic_auth("ops-bot", Some(printed_secret(&out.stdout)))
        .form(&[("grant_type", "client_credentials"), ("scope", "latchkey:admin")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = http
        .post(server.url("/admin/api/v1/accounts"))
        .bearer_auth(token["access_token"].as_str().unwrap())
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
    let server = Server::start(db.clone(), &[]).unwrap();
    let secret = setup(&server, &db);
    account_with_required_change(&server, &db, "carol").await;
    let http = rp_http(server.base_url.clone());
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(ISSUER.into()).unwrap(), &http).await.unwrap();
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new("rp-web".into()), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Sign-in with the old password leads to the password page, the authorization request kept.
    let browser = Browser::new(&server);
    let (_, location, _) = browser.get(auth_url.as_str()).await;
    let (status, _, page) = browser.get(&location.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (csrf, return_to) = (hidden(&page, "csrf_token"), hidden(&page, "return_to"));
    let (status, location, _) = browser
        .post("/login", &[("csrf_token", &csrf), ("return_to", &return_to), ("login", "carol"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let password_page = location.unwrap();
    assert_eq!(password_page, format!("/account/password?return_to={}", url_encode(&return_to)));

    // Meanwhile the authorization request gives no code: interaction_required under prompt=none,
    // the password page otherwise; nor does the rest of the account console open.
    let (silent, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_prompt(CoreAuthPrompt::None)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let (status, location, _) = browser.get(silent.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "error").as_deref(), Some("interaction_required"));
    assert_eq!(query_param(&location, "code"), None);
    let (_, location, _) = browser.get(&return_to).await;
    assert_eq!(location.as_deref(), Some(password_page.as_str()));
    let (_, location, _) = browser.get("/account/sessions").await;
    assert_eq!(location.as_deref(), Some("/account/password?return_to=%2Faccount%2Fsessions"));

    // The change resumes the request: consent, then the client gets a code that works.
    let (status, _, page) = browser.get(&password_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your administrator asks you to choose a new password"), "{page}");
    assert_eq!(hidden(&page, "return_to"), return_to);
    let (status, location, body) = browser
        .post(
            "/account/password",
            &[
                ("csrf_token", &hidden(&page, "csrf_token")),
                ("return_to", &return_to),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some(return_to.as_str()));
    let (status, _, consent) = browser.get(&return_to).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    let (_, location, _) = browser
        .post(
            "/consent",
            &[
                ("csrf_token", &hidden(&consent, "csrf_token")),
                ("request", &hidden(&consent, "request")),
                ("issued_at", &hidden(&consent, "issued_at")),
                ("ticket", &hidden(&consent, "ticket")),
                ("decision", "allow"),
            ],
        )
        .await;
    let callback = location.unwrap();
    assert!(callback.starts_with(REDIRECT), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some(state.secret().as_str()));
    let code = query_param(&callback, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens.id_token().expect("an ID token").claims(&client.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("carol"));
}

fn url_encode(s: &str) -> String {
    Url::parse_with_params("http://x/", &[("v", s)]).unwrap().query().unwrap().trim_start_matches("v=").to_owned()
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
