//! OpenID Connect part A end to end, against the real binary on SQLite and PostgreSQL: discovery,
//! JWKS, a client registered with the CLI getting a client_credentials token, the token's
//! signature verified against JWKS with jsonwebtoken (an independent verifier), introspection,
//! revocation, and a key rotation that changes the signing kid while the old key stays published.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use latchkey_tests::{Db, Server, TempPostgres, run_cli};
use serde_json::Value;

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
