//! OpenID Connect part A end to end, against the real binary on SQLite and PostgreSQL: discovery,
//! JWKS, a client registered with the CLI getting a client_credentials token, the token's
//! signature verified against JWKS with jsonwebtoken (an independent verifier), introspection,
//! revocation, and a key rotation that changes the signing kid while the old key stays published.
//! Then the user grants: an ID token from a code and its refreshed successor (OIDC Core §12.2),
//! verified the same way, keep the original sign-in's `auth_time` and `amr`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use latchkey_tests::{Db, Server, TempPostgres, run_cli};
use reqwest::cookie::Jar;
use serde_json::Value;

const PASSWORD: &str = "violet-tractor-sunrise-917";
const REDIRECT: &str = "https://web.example/cb";
/// RFC 7636 Appendix B: a verifier and its S256 challenge.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const NONCE: &str = "n-0S6_WzA2Mj";

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Registers a confidential client for client_credentials through the public CLI; returns its secret.
fn register_service(server: &Server, db: &Db) -> String {
    let out = run_cli(
        server.data_dir(),
        db,
        &[
            "clients",
            "add",
            "reporting-svc",
            "--redirect-uri",
            "https://reporting.example/cb",
            "--grant",
            "client_credentials",
            "--scope",
            "api:read",
            "--scope",
            "api:write",
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

async fn token(server: &Server, secret: &str) -> String {
    let res = http()
        .post(server.url("/token"))
        .basic_auth("reporting-svc", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read");
    assert!(body.get("refresh_token").is_none());
    body["access_token"].as_str().unwrap().to_owned()
}

async fn jwks(server: &Server) -> JwkSet {
    let res = http().get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"].to_str().unwrap().starts_with("public, max-age="));
    let raw: Value = res.json().await.unwrap();
    for key in raw["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private members: {key}");
    }
    serde_json::from_value(raw).unwrap()
}

/// Verifies the RFC 9068 access token with jsonwebtoken against the published key; returns its kid.
fn verify(token: &str, set: &JwkSet, issuer: &str) -> String {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.unwrap();
    let jwk = set.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["reporting-svc"]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_eq!(data.claims["sub"], "reporting-svc");
    assert_eq!(data.claims["client_id"], "reporting-svc");
    assert!(data.claims["jti"].is_string());
    kid
}

async fn introspect(server: &Server, secret: &str, token: &str) -> Value {
    let res = http()
        .post(server.url("/introspect"))
        .basic_auth("reporting-svc", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn scenario(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    let http = http();

    // Discovery, with every endpoint built from the same paths the router serves.
    let doc: Value =
        http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let issuer = doc["issuer"].as_str().unwrap().to_owned();
    for (key, path) in [("token_endpoint", "/token"), ("jwks_uri", "/jwks"), ("introspection_endpoint", "/introspect")]
    {
        assert_eq!(doc[key], format!("{issuer}{path}"));
    }
    let rfc8414: Value =
        http.get(server.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rfc8414["issuer"], issuer.as_str());

    let secret = register_service(&server, &db);
    let access = token(&server, &secret).await;
    let set = jwks(&server).await;
    let first_kid = verify(&access, &set, &issuer);

    // Wrong secret: 401 with a challenge.
    let res = http
        .post(server.url("/token"))
        .basic_auth("reporting-svc", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"latchkey\"");

    let active = introspect(&server, &secret, &access).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], "reporting-svc");
    assert_eq!(active["scope"], "api:read");

    let res = http
        .post(server.url("/revoke"))
        .basic_auth("reporting-svc", Some(&secret))
        .form(&[("token", access.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(&server, &secret, &access).await, serde_json::json!({"active": false}));

    // Rotate with the CLI; a running node picks the new keys up within a minute, a (re)started one at once.
    let out = run_cli(server.data_dir(), &db, &["keys", "rotate"], "").unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    let server = Server::start_in(server.stop().unwrap(), db.clone(), &[]).unwrap();
    let rotated = token(&server, &secret).await;
    let set = jwks(&server).await;
    let new_kid = verify(&rotated, &set, &issuer);
    assert_ne!(new_kid, first_kid, "the new active key signs");
    assert!(set.find(&first_kid).is_some(), "the retired key stays published");
    // A token signed before the rotation still verifies (and introspects as revoked, not as unknown-signature).
    verify(&access, &set, &issuer);
    assert_eq!(introspect(&server, &secret, &rotated).await["active"], true);
}

#[tokio::test]
async fn sqlite_client_credentials_tokens_verify_against_jwks_and_survive_rotation() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_client_credentials_tokens_verify_against_jwks_and_survive_rotation() {
    let Some(pg) = TempPostgres::create().await else { return };
    scenario(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}

/// The CLI's stdout, failing the test on a non-zero exit.
fn cli(server: &Server, db: &Db, args: &[&str], stdin: &str) -> String {
    let out = run_cli(server.data_dir(), db, args, stdin).unwrap();
    assert!(out.status.success(), "latchkey {args:?}:\n{}\n{}", out.stdout, out.stderr);
    out.stdout
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no {name} in {body}")) + marker.len();
    body[start..].split('"').next().unwrap().replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
}

/// Signs `login` in through the real `/login` page and gets a code for the first-party client `web`
/// (no consent screen), with a nonce and PKCE.
async fn sign_in_and_get_code(server: &Server, login: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(Jar::default()))
        .build()
        .unwrap();
    let page = browser.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf_token");
    let signed_in = browser
        .post(server.url("/login"))
        .header("origin", &server.base_url)
        .form(&[("csrf_token", csrf.as_str()), ("login", login), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{}", signed_in.text().await.unwrap());
    let mut authorize = reqwest::Url::parse(&server.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid offline_access"),
        ("state", "s-1"),
        ("nonce", NONCE),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = browser.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location.query_pairs().find(|(k, _)| k == "code").expect("a code").1.into_owned()
}

async fn token_request(server: &Server, secret: &str, form: &[(&str, &str)]) -> Value {
    let res = http().post(server.url("/token")).basic_auth("web", Some(secret)).form(form).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Verifies an ID token for `web` with jsonwebtoken against the published keys; returns its claims.
fn verify_id_token(token: &str, set: &JwkSet, issuer: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set.find(header.kid.as_deref().expect("a kid")).expect("the signing key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["web"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

async fn refreshed_id_token_scenario(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    cli(&server, &db, &["users", "add", "alice", "--email", "alice@example.com"], &format!("{PASSWORD}\n"));
    let added = cli(
        &server,
        &db,
        &[
            "clients",
            "add",
            "web",
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--scope",
            "openid",
            "--scope",
            "offline_access",
        ],
        "",
    );
    let secret = added.lines().find_map(|l| l.split("store it now): ").nth(1)).expect("the secret").trim().to_owned();

    let code = sign_in_and_get_code(&server, "alice").await;
    let issued = token_request(
        &server,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", PKCE_VERIFIER),
        ],
    )
    .await;
    let refresh_token = issued["refresh_token"].as_str().expect("offline_access gives a refresh token");
    let refreshed =
        token_request(&server, &secret, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await;

    let set = jwks(&server).await;
    let issuer = "http://127.0.0.1:8080";
    let original = verify_id_token(issued["id_token"].as_str().unwrap(), &set, issuer);
    let renewed = verify_id_token(refreshed["id_token"].as_str().expect("openid gives an ID token"), &set, issuer);
    assert_eq!(original["amr"], serde_json::json!(["pwd"]), "{original}");
    assert_eq!(original["nonce"], NONCE, "{original}");
    // OIDC Core §12.2: the same person and authentication (sub, auth_time, amr); no nonce.
    assert_eq!(renewed["amr"], serde_json::json!(["pwd"]), "{renewed}");
    assert_eq!(renewed["auth_time"], original["auth_time"], "{renewed}");
    assert_eq!(renewed["sub"], original["sub"], "{renewed}");
    assert!(renewed.get("nonce").is_none(), "{renewed}");
}

#[tokio::test]
async fn sqlite_refreshed_id_token_keeps_the_original_amr_and_auth_time() {
    refreshed_id_token_scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_refreshed_id_token_keeps_the_original_amr_and_auth_time() {
    let Some(pg) = TempPostgres::create().await else { return };
    refreshed_id_token_scenario(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}
