//! A tiny OpenID provider for the demo's tests: discovery, JWKS, token and userinfo on
//! 127.0.0.1, with a test RSA key, so the callback's happy path and its failures are tested
//! without the real Latchkey. The "authorization endpoint" is the test itself: it reads the
//! authorization URL the demo produced and hands out a code with [`FakeProvider::issue_code`].
//!
//! Tokens are signed with aws-lc-rs over the JWS signing input (RFC 7515 §5.1); the demo verifies
//! them with the openidconnect crate, which is what is under test.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;

pub const CLIENT_ID: &str = "demo-rp";
pub const CLIENT_SECRET: &str = "demo-rp-local-secret-not-for-production-0123456789";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8081/callback";

/// Ways the fake can misbehave, to test the demo's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misbehave {
    #[default]
    Nothing,
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    Expired,
    BadSignature,
    WrongAtHash,
    /// The token endpoint answers `invalid_grant`.
    RefuseCode,
    /// Userinfo names another subject than the ID token.
    OtherSubjectInUserinfo,
}

/// What the test "authorized": the person and the request's nonce and PKCE challenge.
#[derive(Debug, Clone)]
struct Grant {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
}

pub struct Shared {
    issuer: String,
    key: RsaKeyPair,
    kid: String,
    codes: Mutex<HashMap<String, Grant>>,
    access_tokens: Mutex<HashMap<String, ()>>,
    pub misbehave: Mutex<Misbehave>,
    /// Every token request's form, for assertions (PKCE verifier, grant type).
    pub token_requests: Mutex<Vec<HashMap<String, String>>>,
}

pub struct FakeProvider {
    pub shared: Arc<Shared>,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeProvider {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener).await
    }

    /// Starts on a given listener (to come up at an address the demo was configured with).
    pub async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            key,
            kid: "test-key-1".into(),
            codes: Mutex::default(),
            access_tokens: Mutex::default(),
            misbehave: Mutex::default(),
            token_requests: Mutex::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { shared, addr, stop: Some(stop), task: Some(task) }
    }

    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    pub fn misbehave(&self, how: Misbehave) {
        *self.shared.misbehave.lock().unwrap() = how;
    }

    /// Plays the authorization endpoint: checks the demo's authorization URL and returns the
    /// callback query a real provider would redirect with (`code`, `state`, `iss`).
    pub fn issue_code(&self, authorize_url: &str) -> String {
        let url = Url::parse(authorize_url).unwrap();
        assert_eq!(url.as_str().split('?').next().unwrap(), format!("{}/authorize", self.shared.issuer));
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["code_challenge_method"], "S256", "PKCE with S256");
        assert_eq!(q["code_challenge"].len(), 43, "base64url of a SHA-256");
        let scopes: Vec<&str> = q["scope"].split(' ').collect();
        for s in ["openid", "profile", "email", "roles"] {
            assert!(scopes.contains(&s), "scope {s} in {scopes:?}");
        }
        assert!(q["state"].len() >= 16 && q["nonce"].len() >= 16, "random state and nonce");
        let code = URL_SAFE_NO_PAD.encode(rand_bytes());
        self.shared.codes.lock().unwrap().insert(
            code.clone(),
            Grant {
                nonce: q["nonce"].clone(),
                code_challenge: q["code_challenge"].clone(),
                redirect_uri: q["redirect_uri"].clone(),
            },
        );
        let mut back = Url::parse("http://x/").unwrap();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &q["state"])
            .append_pair("iss", &self.shared.issuer);
        back.query().unwrap().to_owned()
    }

    /// Stops listening; afterwards every request to it fails to connect.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

async fn discovery(State(s): State<Arc<Shared>>) -> Json<Value> {
    let url = |p: &str| format!("{}{p}", s.issuer);
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks"),
        "end_session_endpoint": url("/end_session"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "roles"],
    }))
}

async fn jwks(State(s): State<Arc<Shared>>) -> Json<Value> {
    let public = s.key.public_key();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    Json(json!({"keys": [{
        "kty": "RSA",
        "kid": s.kid,
        "alg": "RS256",
        "use": "sig",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    }]}))
}

impl Shared {
    fn sign(&self, claims: &Value, corrupt: bool) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
        if corrupt {
            sig[0] ^= 0xff;
        }
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"error": code, "error_description": format!("fake provider: {code}")}))).into_response()
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    s.token_requests.lock().unwrap().push(form.clone());
    let misbehave = *s.misbehave.lock().unwrap();
    // client_secret_basic (RFC 6749 §2.3.1), which the openidconnect crate uses by default.
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let grant = form.get("code").and_then(|c| s.codes.lock().unwrap().remove(c));
    let Some(grant) = grant else { return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant") };
    if misbehave == Misbehave::RefuseCode {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    if challenge != grant.code_challenge || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }

    let access_token = URL_SAFE_NO_PAD.encode(rand_bytes());
    s.access_tokens.lock().unwrap().insert(access_token.clone(), ());
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    let mut at_hash = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]);
    if misbehave == Misbehave::WrongAtHash {
        at_hash = URL_SAFE_NO_PAD.encode([0_u8; 16]);
    }
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": if misbehave == Misbehave::WrongIssuer { "http://evil.example".to_owned() } else { s.issuer.clone() },
        "sub": "subject-ada",
        "aud": if misbehave == Misbehave::WrongAudience { "someone-else" } else { CLIENT_ID },
        "exp": if misbehave == Misbehave::Expired { now - 600 } else { now + 300 },
        "iat": if misbehave == Misbehave::Expired { now - 900 } else { now },
        "auth_time": now,
        "nonce": if misbehave == Misbehave::WrongNonce { "not-the-nonce".to_owned() } else { grant.nonce },
        "at_hash": at_hash,
        "sid": "provider-session-1",
        "name": "Ada Lovelace",
        "preferred_username": "ada",
        "email": "ada@example.com",
        "email_verified": true,
        "roles": ["admin", "reader"],
    });
    let id_token = s.sign(&claims, misbehave == Misbehave::BadSignature);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 600,
            "id_token": id_token,
            "scope": "openid profile email roles",
        })),
    )
        .into_response()
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| s.access_tokens.lock().unwrap().contains_key(t)) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")])
            .into_response();
    }
    let sub =
        if *s.misbehave.lock().unwrap() == Misbehave::OtherSubjectInUserinfo { "subject-eve" } else { "subject-ada" };
    Json(json!({
        "sub": sub,
        "name": "Ada Lovelace",
        "preferred_username": "ada",
        "email": "ada@example.com",
        "email_verified": true,
        "roles": ["admin", "reader"],
    }))
    .into_response()
}
