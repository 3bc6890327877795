//! The OpenID Connect endpoints of part A through the real router (`router(state).oneshot`, no
//! socket) on in-memory SQLite with a fixed clock: discovery, JWKS, client authentication, the
//! client_credentials grant, userinfo, introspection and revocation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use common::{Reply, enc, t0};
use http_body_util::BodyExt as _;
use latchkey_core::FixedClock;
use latchkey_core::model::{
    AccountId, Client, ClientId, GrantType, NewAccount, TokenEndpointAuthMethod, TokenFamilyId,
};
use latchkey_core::secret::Secret;
use latchkey_core::store::{AccountStore as _, ClientStore as _, GrantStore as _, RoleStore as _};
use latchkey_core::tokens::{AccessTokenRequest, issue_access_token, verify_access_token};
use latchkey_server::http::paths;
use latchkey_server::{AppState, router};
use serde_json::Value;
use tower::ServiceExt as _;

/// A secret with every character RFC 6749 §2.3.1's form-encoding changes.
const SPECIAL_SECRET: &str = "a:b c%&+=/?#é-0123456789abcdef0123456789";
const POST_SECRET: &str = "post-secret-0123456789abcdef0123456789abcdef";

struct Env {
    app: AppState,
    clock: Arc<FixedClock>,
    account: AccountId,
    _dir: tempfile::TempDir,
}

fn client(id: &str, secret: Option<&str>, method: TokenEndpointAuthMethod, grants: &[GrantType]) -> Client {
    Client {
        secret_hash: secret.map(|s| Secret::new(s).hash()),
        grant_types: grants.to_vec(),
        scopes: ["openid", "profile", "email", "roles", "api:read", "api:write"].map(String::from).to_vec(),
        public: method == TokenEndpointAuthMethod::None,
        token_endpoint_auth_method: method,
        ..common::client(id)
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

impl Env {
    async fn new() -> Self {
        let common::TestApp { app, clock, dir } = common::test_app(|_| {}).await;
        use GrantType::*;
        use TokenEndpointAuthMethod as M;
        let s = &app.store;
        s.insert_client(client("svc.one~", Some(SPECIAL_SECRET), M::ClientSecretBasic, &[ClientCredentials]))
            .await
            .unwrap();
        s.insert_client(client("svc-post", Some(POST_SECRET), M::ClientSecretPost, &[ClientCredentials]))
            .await
            .unwrap();
        s.insert_client(client("webapp", Some(POST_SECRET), M::ClientSecretBasic, &[AuthorizationCode])).await.unwrap();
        s.insert_client(client("spa", None, M::None, &[AuthorizationCode, RefreshToken])).await.unwrap();
        let account = s
            .insert_account(
                NewAccount { display_name: Some("Alice Liddell".into()), ..common::new_account("alice") },
                t0(),
            )
            .await
            .unwrap();
        let role = s.insert_role("editor", None).await.unwrap();
        s.grant_role(account.id, role.id).await.unwrap();
        Self { app, clock, account: account.id, _dir: dir }
    }

    async fn send(&self, method: Method, path: &str, auth: Option<&str>, form: Option<&str>) -> Reply {
        common::send(&self.app, common::request(method, path, None, auth, form)).await
    }

    async fn cc_token(&self, scope: &str) -> String {
        let r = self
            .send(
                Method::POST,
                "/token",
                Some(&basic("svc.one~", SPECIAL_SECRET)),
                Some(&format!("grant_type=client_credentials&scope={}", enc(scope))),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// An end-user access token for `webapp`, as part B's authorization_code grant will issue it.
    async fn user_token(&self, scopes: &str, family: Option<TokenFamilyId>) -> String {
        let c = self.app.store.find_client(&ClientId("webapp".into())).await.unwrap().unwrap();
        let scopes: Vec<String> = scopes.split(' ').map(String::from).collect();
        let roles = vec!["editor".to_owned()];
        let req = AccessTokenRequest {
            client: &c,
            account: Some(self.account),
            scopes: &scopes,
            roles: &roles,
            auth_time: Some(self.clock_now()),
            session_id: None,
            family_id: family,
        };
        let ring = self.app.keys.ring();
        let issued =
            issue_access_token(&ring, &self.app.oidc.tokens, &self.app.oidc.issuer, req, self.clock_now()).unwrap();
        self.app.store.insert_access_token(issued.record).await.unwrap();
        issued.token
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use latchkey_core::Clock as _;
        self.clock.now()
    }
}

fn assert_oauth_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.json());
    assert_eq!(r.json()["error"], code, "{}", r.json());
    assert!(r.json()["error_description"].is_string());
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn discovery_fields_match_paths_and_config() {
    let env = Env::new().await;
    let iss = env.app.config.issuer_str().to_owned();
    for path in [paths::OPENID_CONFIGURATION, paths::OAUTH_AUTHORIZATION_SERVER] {
        let r = env.send(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=3600");
        let d = &r.json();
        assert_eq!(d["issuer"], iss.as_str());
        for (key, path) in [
            ("authorization_endpoint", paths::AUTHORIZE),
            ("token_endpoint", paths::TOKEN),
            ("userinfo_endpoint", paths::USERINFO),
            ("jwks_uri", paths::JWKS),
            ("introspection_endpoint", paths::INTROSPECT),
            ("revocation_endpoint", paths::REVOKE),
            ("end_session_endpoint", paths::END_SESSION),
        ] {
            assert_eq!(d[key], format!("{iss}{path}"), "{key}");
        }
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
        assert_eq!(
            d["grant_types_supported"],
            serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d["request_parameter_supported"], false);
        for scope in ["openid", "profile", "email", "offline_access", "roles"] {
            assert!(d["scopes_supported"].as_array().unwrap().iter().any(|s| s == scope), "{scope}");
        }
        assert!(d["claims_supported"].as_array().unwrap().iter().any(|c| c == "email_verified"));
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    let env = Env::new().await;
    let r = env.send(Method::GET, paths::JWKS, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=900");
    let jwks = r.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "an active and a next key for each of three algorithms");
    for k in keys {
        for member in ["kid", "kty", "alg", "use"] {
            assert!(k[member].is_string(), "{member} in {k}");
        }
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "private member {private} in {k}");
        }
    }
}

#[tokio::test]
async fn client_authentication_matrix() {
    let env = Env::new().await;
    let cc = "grant_type=client_credentials&scope=api%3Aread";
    // client_secret_basic with form-encoded specials in id and secret.
    let r = env.send(Method::POST, "/token", Some(&basic("svc.one~", SPECIAL_SECRET)), Some(cc)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    // client_secret_post.
    let body = format!("{cc}&client_id=svc-post&client_secret={}", enc(POST_SECRET));
    let r = env.send(Method::POST, "/token", None, Some(&body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    // Both methods at once.
    let body = format!("{cc}&client_secret={}", enc(SPECIAL_SECRET));
    let r = env.send(Method::POST, "/token", Some(&basic("svc.one~", SPECIAL_SECRET)), Some(&body)).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    // Wrong secret, unknown client, no credentials: 401 with a Basic challenge.
    for (auth, body) in [
        (Some(basic("svc.one~", "wrong")), cc.to_owned()),
        (Some(basic("nobody", SPECIAL_SECRET)), cc.to_owned()),
        (None, cc.to_owned()),
        (None, format!("{cc}&client_id=svc-post&client_secret=wrong")),
    ] {
        let r = env.send(Method::POST, "/token", auth.as_deref(), Some(&body)).await;
        assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Basic realm=\"latchkey\"");
        assert!(!r.json().to_string().contains("wrong"), "nothing echoed: {}", r.json());
    }
    // The registered method is enforced: the post client with Basic, the basic client with post.
    let r = env.send(Method::POST, "/token", Some(&basic("svc-post", POST_SECRET)), Some(cc)).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    let body = format!("{cc}&client_id=svc.one~&client_secret={}", enc(SPECIAL_SECRET));
    let r = env.send(Method::POST, "/token", None, Some(&body)).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    // A public client presenting a secret is not let in; with none it is authenticated, but may
    // not use client_credentials.
    let r = env.send(Method::POST, "/token", Some(&basic("spa", "anything")), Some(cc)).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    let r = env.send(Method::POST, "/token", None, Some(&format!("{cc}&client_id=spa"))).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client");
    // A confidential client cannot skip its secret.
    let r = env.send(Method::POST, "/token", None, Some(&format!("{cc}&client_id=svc-post"))).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    // Malformed Basic header.
    let r = env.send(Method::POST, "/token", Some("Basic %%%"), Some(cc)).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn token_endpoint_rejects_bad_bodies_as_json() {
    let env = Env::new().await;
    let auth = basic("svc.one~", SPECIAL_SECRET);
    let r = env
        .send(Method::POST, "/token", Some(&auth), Some("grant_type=client_credentials&grant_type=client_credentials"))
        .await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let req = Request::post("/token")
        .header(header::AUTHORIZATION, &auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    let res = router(env.app.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["error"], "invalid_request");
    let r = env.send(Method::GET, "/token", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"], "invalid_request");
}

#[tokio::test]
async fn client_credentials_grant() {
    let env = Env::new().await;
    let auth = basic("svc.one~", SPECIAL_SECRET);
    let r = env.send(Method::POST, "/token", Some(&auth), Some("grant_type=client_credentials&scope=api%3Aread")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::PRAGMA], "no-cache");
    assert_eq!(r.json()["token_type"], "Bearer");
    assert_eq!(r.json()["expires_in"], 600);
    assert_eq!(r.json()["scope"], "api:read");
    assert!(r.json().get("refresh_token").is_none() && r.json().get("id_token").is_none());
    let issued = r.json();
    let token = issued["access_token"].as_str().unwrap();
    let ring = env.app.keys.ring();
    let claims = verify_access_token(&ring, &env.app.oidc.issuer, token, env.clock_now()).unwrap();
    assert_eq!(claims.sub, "svc.one~");
    assert_eq!(claims.client_id, "svc.one~");
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"].as_str(), ring.active_kid(latchkey_core::keys::Algorithm::Rs256));
    assert!(env.app.store.find_access_token(&claims.jti).await.unwrap().is_some(), "jti recorded");

    // No scope: the client's non-end-user scopes.
    let r = env.send(Method::POST, "/token", Some(&auth), Some("grant_type=client_credentials")).await;
    assert_eq!(r.json()["scope"], "api:read api:write");
    for (body, status, code) in [
        ("grant_type=client_credentials&scope=api%3Aadmin", StatusCode::BAD_REQUEST, "invalid_scope"),
        ("grant_type=client_credentials&scope=openid", StatusCode::BAD_REQUEST, "invalid_scope"),
        ("grant_type=password&username=a&password=b", StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        ("scope=api%3Aread", StatusCode::BAD_REQUEST, "invalid_request"),
    ] {
        let r = env.send(Method::POST, "/token", Some(&auth), Some(body)).await;
        assert_oauth_error(&r, status, code);
    }
    // A client not registered for the grant.
    let r = env
        .send(Method::POST, "/token", Some(&basic("webapp", POST_SECRET)), Some("grant_type=client_credentials"))
        .await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn userinfo_matrix() {
    let env = Env::new().await;
    let token = env.user_token("openid profile email roles", None).await;
    let bearer = format!("Bearer {token}");
    let r = env.send(Method::GET, "/userinfo", Some(&bearer), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.json()["sub"], env.account.to_string());
    assert_eq!(r.json()["preferred_username"], "alice");
    assert_eq!(r.json()["name"], "Alice Liddell");
    assert_eq!(r.json()["email"], "alice@example.com");
    assert_eq!(r.json()["email_verified"], true);
    assert_eq!(r.json()["roles"], serde_json::json!(["editor"]));
    // POST with the token in the body (RFC 6750 §2.2).
    let r = env.send(Method::POST, "/userinfo", None, Some(&format!("access_token={token}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    // Only what the scopes release.
    let narrow = env.user_token("openid email", None).await;
    let r = env.send(Method::GET, "/userinfo", Some(&format!("Bearer {narrow}")), None).await;
    assert!(r.json().get("preferred_username").is_none() && r.json().get("roles").is_none());
    assert_eq!(r.json()["email"], "alice@example.com");
    // Both methods at once.
    let r = env.send(Method::POST, "/userinfo", Some(&bearer), Some(&format!("access_token={token}"))).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    // No token: a challenge without an error code.
    let r = env.send(Method::GET, "/userinfo", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"latchkey\"");
    // Garbage and tampered tokens.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in ["garbage", "a.b.c", tampered.as_str()] {
        let r = env.send(Method::GET, "/userinfo", Some(&format!("Bearer {bad}")), None).await;
        assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        assert!(r.headers[header::WWW_AUTHENTICATE].to_str().unwrap().contains("error=\"invalid_token\""));
    }
    // A client_credentials token has no end-user (and no openid scope).
    let cc = env.cc_token("api:read").await;
    let r = env.send(Method::GET, "/userinfo", Some(&format!("Bearer {cc}")), None).await;
    assert_oauth_error(&r, StatusCode::FORBIDDEN, "insufficient_scope");
    // Revoked.
    let r =
        env.send(Method::POST, "/revoke", Some(&basic("webapp", POST_SECRET)), Some(&format!("token={narrow}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env.send(Method::GET, "/userinfo", Some(&format!("Bearer {narrow}")), None).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    // Disabled account.
    env.app.store.set_account_disabled(env.account, true, t0()).await.unwrap();
    let r = env.send(Method::GET, "/userinfo", Some(&bearer), None).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    env.app.store.set_account_disabled(env.account, false, t0()).await.unwrap();
    assert_eq!(env.send(Method::GET, "/userinfo", Some(&bearer), None).await.status, StatusCode::OK);
    // Expired: the clock moves past the 10-minute lifetime.
    env.clock.advance(Duration::minutes(10));
    let r = env.send(Method::GET, "/userinfo", Some(&bearer), None).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn introspection_and_revocation_matrix() {
    let env = Env::new().await;
    let svc = basic("svc.one~", SPECIAL_SECRET);
    let post_creds = format!("client_id=svc-post&client_secret={}", enc(POST_SECRET));
    let token = env.cc_token("api:read").await;
    let r = env
        .send(Method::POST, "/introspect", Some(&svc), Some(&format!("token={token}&token_type_hint=access_token")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let j = &r.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["scope"], "api:read");
    assert_eq!(j["client_id"], "svc.one~");
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["sub"], "svc.one~");
    assert_eq!(j["iss"], env.app.oidc.issuer.as_str());
    assert_eq!(j["exp"], t0().timestamp() + 600);
    assert!(j["jti"].is_string() && j["iat"].is_number() && j["aud"].is_string());
    // Another client's token, unknown and garbage tokens: just inactive.
    for t in [token.as_str(), "unknown-opaque-token", "x.y.z"] {
        let r = env.send(Method::POST, "/introspect", None, Some(&format!("token={t}&{post_creds}"))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), serde_json::json!({"active": false}));
    }
    // Introspection needs an authenticated client; a public client is not one.
    let r = env.send(Method::POST, "/introspect", None, Some(&format!("token={token}&client_id=spa"))).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    let r = env.send(Method::POST, "/introspect", None, Some(&format!("token={token}"))).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_client");
    let r = env.send(Method::POST, "/introspect", Some(&svc), Some("token_type_hint=access_token")).await;
    assert_oauth_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    // Another client cannot revoke it; unknown tokens are fine (200).
    let r = env.send(Method::POST, "/revoke", None, Some(&format!("token={token}&{post_creds}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env.send(Method::POST, "/introspect", Some(&svc), Some(&format!("token={token}"))).await;
    assert_eq!(r.json()["active"], true);
    let r = env.send(Method::POST, "/revoke", Some(&svc), Some("token=never-issued")).await;
    assert_eq!(r.status, StatusCode::OK);
    // The owner revokes it.
    let r = env.send(Method::POST, "/revoke", Some(&svc), Some(&format!("token={token}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env.send(Method::POST, "/introspect", Some(&svc), Some(&format!("token={token}"))).await;
    assert_eq!(r.json(), serde_json::json!({"active": false}));
    // Expired tokens are inactive.
    let later = env.cc_token("api:read").await;
    env.clock.advance(Duration::minutes(10));
    let r = env.send(Method::POST, "/introspect", Some(&svc), Some(&format!("token={later}"))).await;
    assert_eq!(r.json(), serde_json::json!({"active": false}));
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let env = Env::new().await;
    let family = TokenFamilyId::new();
    let refresh = Secret::generate();
    env.app
        .store
        .insert_refresh_token(common::refresh_token(
            refresh.hash(),
            family,
            "webapp",
            env.account,
            vec!["openid".into(), "offline_access".into()],
        ))
        .await
        .unwrap();
    let access = env.user_token("openid", Some(family)).await;
    let webapp = basic("webapp", POST_SECRET);
    let r = env.send(Method::POST, "/introspect", Some(&webapp), Some(&format!("token={}", refresh.expose()))).await;
    assert_eq!(r.json()["active"], true, "{}", r.json());
    assert_eq!(r.json()["username"], "alice");
    assert_eq!(r.json()["sub"], env.account.to_string());
    assert_eq!(r.json()["scope"], "openid offline_access");
    let r = env.send(Method::POST, "/introspect", Some(&webapp), Some(&format!("token={access}"))).await;
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["username"], "alice");
    // Another client cannot see or revoke it.
    let svc = basic("svc.one~", SPECIAL_SECRET);
    let r = env.send(Method::POST, "/introspect", Some(&svc), Some(&format!("token={}", refresh.expose()))).await;
    assert_eq!(r.json(), serde_json::json!({"active": false}));
    env.send(Method::POST, "/revoke", Some(&svc), Some(&format!("token={}", refresh.expose()))).await;
    let r = env.send(Method::POST, "/introspect", Some(&webapp), Some(&format!("token={}", refresh.expose()))).await;
    assert_eq!(r.json()["active"], true);
    // The owner revokes the refresh token: the family's access token goes with it.
    let r = env
        .send(
            Method::POST,
            "/revoke",
            Some(&webapp),
            Some(&format!("token={}&token_type_hint=refresh_token", refresh.expose())),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for t in [refresh.expose(), access.as_str()] {
        let r = env.send(Method::POST, "/introspect", Some(&webapp), Some(&format!("token={t}"))).await;
        assert_eq!(r.json(), serde_json::json!({"active": false}));
    }
    let r = env.send(Method::GET, "/userinfo", Some(&format!("Bearer {access}")), None).await;
    assert_oauth_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
}
