//! The admin console and the admin API end to end, against the real binary on SQLite and on
//! PostgreSQL: every admin route walked as an anonymous visitor and as a signed-in non-admin (the
//! list of routes is read from the router's source, so a new route cannot be left out); the API
//! with client_credentials tokens with and without `latchkey:admin`, and with people's tokens;
//! each console operation with its CSRF form, confirmation step and message; the confirmation
//! pages of disabling, setting a password and ending sessions (what they say, and that loading
//! one changes nothing); disabling an account ending its session and revoking its tokens; the
//! first-administrator setup link; and search and deep pages over 100,000 accounts seeded through
//! the store.
//!
//! reqwest with a cookie store and no redirects plays the browser.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use latchkey_tests::http::{
    Browser, admin_token, client_credentials, exchange_code, hidden, introspect as introspection,
};
use latchkey_tests::{Db, PASSWORD, Server, TempPostgres, add_client, add_user, base64url_decode};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const REDIRECT: &str = "https://rp.example/callback";

// ---------------------------------------------------------------------------------------------
// Page scraping and an API client
// ---------------------------------------------------------------------------------------------

/// The first account's page linked from the account list's table.
fn first_account_link(body: &str) -> String {
    let table = &body[body.find("<table id=\"accounts\">").expect("the account table")..];
    let start = table.find("href=\"").unwrap() + "href=\"".len();
    table[start..].split('"').next().unwrap().to_owned()
}

/// The text of the element with this id (tera-escaped, as it is in the page).
fn by_id(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no #{id} in {body}")) + marker.len();
    body[start..].split('<').next().unwrap().to_owned()
}

/// Calls to the admin API with a bearer token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &Server, token: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: server.base_url.clone(), token: token.to_owned() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        (status, headers, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(reqwest::Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures through the public CLI and the token endpoint
// ---------------------------------------------------------------------------------------------

/// An automation client allowed `latchkey:admin`, and its token.
async fn admin_api(server: &Server) -> Api {
    Api::new(server, &admin_token(server, "automation", &["--scope", "api:read"]).await)
}

/// A person's tokens through the real authorization code flow (first-party client: no consent).
async fn person_tokens(server: &Server, browser: &Browser, client: &str, secret: &str, scope: &str) -> Value {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = browser
        .authorization_code(&[
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    exchange_code(server, (client, secret), &code, REDIRECT, verifier.secret()).await
}

/// Whether introspection by `client` says `token` is active.
async fn introspect(server: &Server, client: &str, secret: &str, token: &str) -> bool {
    introspection(server, client, secret, token).await["active"].as_bool().unwrap()
}

async fn account_id(api: &Api, username: &str) -> String {
    let (status, body) = api.get(&format!("/admin/api/v1/accounts?search={username}")).await;
    assert_eq!(status, 200, "{body}");
    let found = body["items"].as_array().unwrap().iter().find(|a| a["username"] == username).expect(username);
    found["id"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Every route, from the router's source
// ---------------------------------------------------------------------------------------------

/// `(method, path pattern)` of every route in the admin router, read from its source: the
/// walk below covers whatever is registered there, including routes added later.
fn admin_routes() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/server/src/http/admin");
    let module = std::fs::read_to_string(format!("{dir}/mod.rs")).unwrap();
    let api = std::fs::read_to_string(format!("{dir}/api.rs")).unwrap();
    let constant = |name: &str| {
        let marker = format!("pub const {name}: &str = \"");
        let start = module.find(&marker).unwrap_or_else(|| panic!("no constant {name}")) + marker.len();
        module[start..].split('"').next().unwrap().to_owned()
    };
    let mut routes = Vec::new();
    for line in module.lines().chain(api.lines()).map(str::trim).filter(|l| l.starts_with(".route(")) {
        let args = &line[".route(".len()..];
        let (path, rest) = if let Some(stripped) = args.strip_prefix('"') {
            let end = stripped.find('"').unwrap();
            (stripped[..end].to_owned(), &stripped[end..])
        } else {
            let name = args.trim_start_matches("paths::").split(',').next().unwrap();
            (constant(name), &args[args.find(',').unwrap()..])
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            if rest.match_indices(&call).any(|(i, _)| i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(routes.len() > 40, "{routes:?}");
    routes
}

/// Public on purpose: the setup page (guarded by its one-time token) and the API's description.
fn is_public(path: &str) -> bool {
    path == "/setup" || path == "/admin/api/openapi.json"
}

fn concrete(path: &str, account: &str) -> String {
    let id = if path.contains("/clients/") { "svc" } else { account };
    path.replace("{id}", id)
        .replace("{name}", "editors")
        .replace("{session_id}", "0192e0b4-5b8a-7000-8000-000000000000")
}

async fn every_admin_route_refuses_anonymous_and_non_admins(server: &Server) {
    add_user(server, "root", true);
    add_user(server, "bob", false);
    server.cli(&["roles", "add", "editors"], "");
    let svc_secret = add_client(
        server,
        "svc",
        &["--redirect-uri", REDIRECT, "--grant", "client_credentials", "--scope", "api:read"],
    );
    let api = admin_api(server).await;
    let bob = account_id(&api, "bob").await;
    let no_scope = Api::new(server, &client_credentials(server, "svc", &svc_secret, "api:read").await);
    let anonymous_api = Api::new(server, "");

    let anonymous = Browser::new(server);
    let non_admin = Browser::new(server);
    non_admin.sign_in("bob", PASSWORD).await;
    // A valid CSRF token of bob's own, so a refusal cannot be the CSRF check's doing.
    let bob_csrf = non_admin.get("/login").await.csrf_token();

    let routes = admin_routes();
    let mut walked = 0;
    for (method, pattern) in &routes {
        if is_public(pattern) {
            continue;
        }
        let path = concrete(pattern, &bob);
        walked += 1;
        if pattern.starts_with("/admin/api/") {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let (status, headers, value) = anonymous_api.call(m.clone(), &path, body.clone()).await;
            assert_eq!(status, 401, "anonymous {method} {path}: {value}");
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{method} {path}");
            assert_eq!(value["error"], "unauthorized", "{method} {path}");
            let (status, headers, value) = no_scope.call(m, &path, body).await;
            assert_eq!(status, 403, "token without latchkey:admin, {method} {path}: {value}");
            assert_eq!(value["error"], "insufficient_scope");
            assert!(headers["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
        } else if method == "GET" {
            let page = anonymous.get(&path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "anonymous GET {path}");
            assert!(
                page.location().unwrap().starts_with("/login?return_to=%2Fadmin"),
                "GET {path}: {:?}",
                page.location()
            );
            let page = non_admin.get(&path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "non-admin GET {path}");
            assert!(page.body.contains("does not have the admin role"), "{}", page.body);
        } else {
            let fields = [("csrf_token", bob_csrf.as_str()), ("name", "x"), ("password", PASSWORD)];
            let page = anonymous.post(&path, &fields).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "anonymous POST {path}");
            assert!(
                page.location().unwrap().starts_with("/login?return_to=%2Fadmin"),
                "POST {path}: {:?}",
                page.location()
            );
            let page = non_admin.post(&path, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "non-admin POST {path}");
            assert!(page.body.contains("does not have the admin role"));
        }
    }
    assert!(walked >= 40, "walked {walked} routes");
    // The confirmation pages of the destructive account actions are among them.
    for confirmation in ["disable", "password", "sessions/end", "sessions/end-all", "delete"] {
        let pattern = format!("/admin/accounts/{{id}}/{confirmation}");
        assert!(routes.iter().any(|(m, p)| m == "GET" && *p == pattern), "GET {pattern} is walked");
        assert!(routes.iter().any(|(m, p)| m == "POST" && *p == pattern), "POST {pattern} is walked");
    }

    // Nothing changed on the way.
    let (_, bob_now) = api.get(&format!("/admin/api/v1/accounts/{bob}")).await;
    assert_eq!(bob_now["disabled"], false);
    assert_eq!(bob_now["email"], "bob@example.com");
    assert_eq!(api.get("/admin/api/v1/clients/svc").await.0, 200);
    let (_, roles) = api.get("/admin/api/v1/roles").await;
    assert!(roles.as_array().unwrap().iter().any(|r| r["name"] == "editors"));
    assert!(non_admin.get("/account").await.status == StatusCode::OK, "bob is still signed in");

    // The public description needs no token and is generated OpenAPI 3.1.
    let (status, doc) = anonymous_api.get("/admin/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    for (method, pattern) in routes.iter().filter(|(_, p)| p.starts_with("/admin/api/v1")) {
        let op = &doc["paths"][pattern][method.to_lowercase()];
        assert!(op.is_object(), "{method} {pattern} is documented");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

async fn api_operations_and_tokens(server: &Server) {
    add_user(server, "root", true);
    add_user(server, "bob", false);
    let api = admin_api(server).await;

    // Accounts: create, validation errors naming the field, conflicts, paging with a total.
    let (status, created) = api
        .post(
            "/admin/api/v1/accounts",
            json!({"username": "Carol", "email": "carol@example.com", "password": PASSWORD, "display_name": "Carol C",
                   "require_password_change": true}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["username"], "carol");
    assert_eq!(created["password_change_required"], true);
    let carol = created["id"].as_str().unwrap().to_owned();
    let (status, err) =
        api.post("/admin/api/v1/accounts", json!({"username": "dave", "email": "nope", "password": PASSWORD})).await;
    assert_eq!(status, 400);
    assert_eq!((err["error"].as_str(), err["field"].as_str()), (Some("invalid_input"), Some("email")), "{err}");
    let (status, err) = api
        .post("/admin/api/v1/accounts", json!({"username": "dave", "email": "dave@example.com", "password": "short"}))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("password")), "{err}");
    let (status, err) = api
        .post("/admin/api/v1/accounts", json!({"username": "carol", "email": "c2@example.com", "password": PASSWORD}))
        .await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{err}");
    let (status, err) = api.post("/admin/api/v1/accounts", json!({"username": 1})).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let (status, page) = api.get("/admin/api/v1/accounts?limit=2&offset=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["username"], "carol", "ordered by username: bob, carol, root");
    let (status, err) = api.get("/admin/api/v1/no-such-endpoint").await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, err) = api.get("/admin/api/v1/accounts/not-an-id").await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Edit, roles, password, require change.
    let (status, _, edited) = api
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/api/v1/accounts/{carol}"),
            Some(json!({"email": "carol@new.example", "email_verified": true})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["email"].as_str(), edited["display_name"].as_str()),
        (Some("carol@new.example"), Some("Carol C"))
    );
    assert_eq!(api.post("/admin/api/v1/roles", json!({"name": "editors", "description": "Edit"})).await.0, 201);
    let (status, err) = api.post("/admin/api/v1/roles", json!({"name": "Bad Name"})).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")));
    let (status, _, with_roles) = api
        .call(
            reqwest::Method::PUT,
            &format!("/admin/api/v1/accounts/{carol}/roles"),
            Some(json!({"roles": ["editors"]})),
        )
        .await;
    assert_eq!((status, with_roles["roles"].clone()), (StatusCode::OK, json!(["editors"])));
    let (status, _, err) = api.call(reqwest::Method::DELETE, "/admin/api/v1/roles/admin", None).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::CONFLICT, Some("builtin_role")));
    let (status, err) = api.post(&format!("/admin/api/v1/accounts/{carol}/password"), json!({"password": "abc"})).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("password")));
    let (status, _) = api
        .post(&format!("/admin/api/v1/accounts/{carol}/password"), json!({"password": "a-brand-new-passphrase-42"}))
        .await;
    assert_eq!(status, 200);
    let (_, after) =
        api.post(&format!("/admin/api/v1/accounts/{carol}/require-password-change"), json!({"required": true})).await;
    assert_eq!(after["password_change_required"], true);

    // A required change: the correct password signs in, to the password page only.
    let carol_browser = Browser::new(server);
    let page = carol_browser.sign_in("carol", "a-brand-new-passphrase-42").await;
    assert_eq!(page.location(), Some("/account/password"));

    // Clients: registration validates URIs; the secret is shown once; rotation; deletion.
    let (status, err) = api
        .post("/admin/api/v1/clients", json!({"client_id": "web", "redirect_uris": ["http://web.example/cb"]}))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("redirect_uris")), "{err}");
    let (status, err) = api
        .post("/admin/api/v1/clients", json!({"client_id": "web", "redirect_uris": ["https://web.example/cb#x"]}))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("redirect_uris")));
    let (status, reg) = api
        .post(
            "/admin/api/v1/clients",
            json!({"client_id": "web", "name": "Web", "redirect_uris": [REDIRECT], "first_party": true,
                   "scopes": ["openid", "roles", "latchkey:admin"], "id_token_signed_response_alg": "ES256",
                   "access_token_lifetime": 300}),
        )
        .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["client"]["id_token_signed_response_alg"], "ES256");
    let web_secret = reg["client_secret"].as_str().unwrap().to_owned();
    let (_, shown_again) = api.get("/admin/api/v1/clients/web").await;
    assert!(shown_again.get("client_secret").is_none(), "never shown again");
    let (status, spa) = api
        .post(
            "/admin/api/v1/clients",
            json!({"client_id": "spa", "public": true, "redirect_uris": ["http://127.0.0.1:5000/cb"]}),
        )
        .await;
    assert_eq!((status, spa["client_secret"].clone()), (StatusCode::CREATED, Value::Null));
    let (status, err) = api.post("/admin/api/v1/clients/spa/secret", json!({})).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::CONFLICT, Some("public_client")));
    let (status, _, edited) = api
        .call(
            reqwest::Method::PUT,
            "/admin/api/v1/clients/spa",
            Some(json!({"name": "SPA", "redirect_uris": ["http://127.0.0.1:5000/cb", "https://spa.example/cb"]})),
        )
        .await;
    assert_eq!((status, edited["name"].as_str()), (StatusCode::OK, Some("SPA")), "{edited}");
    assert_eq!(api.call(reqwest::Method::DELETE, "/admin/api/v1/clients/spa", None).await.0, 204);
    assert_eq!(api.get("/admin/api/v1/clients/spa").await.0, 404);

    // Keys.
    let (_, keys) = api.get("/admin/api/v1/keys").await;
    assert!(keys["next_rotation"].is_string(), "{keys}");
    let (status, rotated) = api.post("/admin/api/v1/keys/rotate", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(rotated["activated"].as_array().unwrap().len(), 3);

    // A person's token: an administrator's works, a non-admin's does not, whatever its scope.
    let root_browser = Browser::new(server);
    root_browser.sign_in("root", PASSWORD).await;
    let root_tokens = person_tokens(server, &root_browser, "web", &web_secret, "openid roles latchkey:admin").await;
    let root_api = Api::new(server, root_tokens["access_token"].as_str().unwrap());
    let (status, list) = root_api.get("/admin/api/v1/roles").await;
    assert_eq!(status, 200, "{list}");
    let bob_browser = Browser::new(server);
    bob_browser.sign_in("bob", PASSWORD).await;
    let bob_tokens = person_tokens(server, &bob_browser, "web", &web_secret, "openid latchkey:admin").await;
    let (status, err) = Api::new(server, bob_tokens["access_token"].as_str().unwrap()).get("/admin/api/v1/roles").await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_scope")));

    // The roles claim reaches ID tokens, access tokens and userinfo.
    let (_, root_view) = api.get(&format!("/admin/api/v1/accounts/{}", account_id(&api, "root").await)).await;
    assert_eq!(root_view["roles"], json!(["admin"]));
    let userinfo: Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(root_tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["roles"], json!(["admin"]), "{userinfo}");
    for token in [&root_tokens["access_token"], &root_tokens["id_token"]] {
        let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&base64url_decode(payload)).unwrap();
        assert_eq!(claims["roles"], json!(["admin"]), "{claims}");
    }

    // A revoked token stops working at once (the jti record, not the signature, decides).
    let res = reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth("web", Some(&web_secret))
        .form(&[("token", root_tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, err) = root_api.get("/admin/api/v1/roles").await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));

    // Sessions, disable, enable, delete.
    let (_, sessions) = api.get(&format!("/admin/api/v1/accounts/{carol}/sessions")).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    let (status, _, ended) =
        api.call(reqwest::Method::DELETE, &format!("/admin/api/v1/accounts/{carol}/sessions"), None).await;
    assert_eq!((status, ended["ended"].as_u64()), (StatusCode::OK, Some(1)));
    let (status, disabled) = api.post(&format!("/admin/api/v1/accounts/{carol}/disable"), json!({})).await;
    assert_eq!(status, 200, "{disabled}");
    let (_, enabled) = api.post(&format!("/admin/api/v1/accounts/{carol}/enable"), json!({})).await;
    assert_eq!(enabled["disabled"], false);
    assert_eq!(api.call(reqwest::Method::DELETE, &format!("/admin/api/v1/accounts/{carol}"), None).await.0, 204);
    assert_eq!(api.get(&format!("/admin/api/v1/accounts/{carol}")).await.0, 404);

    // Every action is audited with who did it.
    let (_, events) = api.get("/admin/api/v1/audit-events?event_type=admin.account.created").await;
    assert_eq!(events["total"], 3, "root and bob by the CLI, carol by the API: {events}");
    assert_eq!(events["items"][0]["detail"]["actor"], "client:automation");
    assert_eq!(events["items"][2]["detail"]["actor"], "cli");
    assert_eq!(events["items"][0]["detail"]["via"], "api");
    let (_, deleted) = api.get("/admin/api/v1/audit-events?event_type=admin.account.deleted").await;
    assert_eq!(deleted["items"][0]["detail"]["username"], "carol");
    let (status, err) = api.get("/admin/api/v1/audit-events?from=yesterday").await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")));
    let (_, cli_events) = api.get("/admin/api/v1/audit-events?event_type=admin.client.created&limit=1").await;
    assert_eq!(cli_events["limit"], 1);
    assert!(cli_events["total"].as_u64().unwrap() >= 3, "{cli_events}");

    // Discovery advertises the admin scope.
    let discovery: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert!(discovery["scopes_supported"].as_array().unwrap().iter().any(|s| s == "latchkey:admin"));
}

// ---------------------------------------------------------------------------------------------
// The console
// ---------------------------------------------------------------------------------------------

async fn console_operations(server: &Server) {
    add_user(server, "root", true);
    add_user(server, "victim", false);
    let web_secret = add_client(
        server,
        "web",
        &["--redirect-uri", REDIRECT, "--first-party", "--scope", "openid", "--scope", "offline_access"],
    );
    let admin = Browser::new(server);
    let page = admin.sign_in("root", PASSWORD).await;
    assert_eq!(page.location(), Some("/account"));

    // Overview.
    let page = admin.get("/admin").await;
    assert_eq!(page.status, 200);
    assert!(page.no_store());
    assert_eq!(by_id(&page.body, "stat-accounts"), "2");
    assert_eq!(by_id(&page.body, "stat-clients"), "1");
    assert!(by_id(&page.body, "stat-sign-ins").parse::<u64>().unwrap() >= 1);
    assert!(page.body.contains("Next scheduled rotation"), "{}", page.body);

    // Create an account: a field error re-renders the form with the values kept.
    let fields = [("username", "newbie"), ("email", "not-an-email"), ("password", PASSWORD), ("roles", "admin")];
    let page = admin.submit("/admin/accounts/new", "/admin/accounts", &fields).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("The account was not created") && page.body.contains("value=\"newbie\""));
    let fields = [("username", "newbie"), ("email", "newbie@example.com"), ("password", PASSWORD)];
    let page = admin.follow(admin.submit("/admin/accounts/new", "/admin/accounts", &fields).await).await;
    assert!(page.body.contains("Account newbie created."), "{}", page.body);

    // Search and open.
    let page = admin.get("/admin/accounts?q=VICT").await;
    assert!(page.body.contains("Showing 1–1 of 1"), "{}", page.body);
    let victim_path = first_account_link(&page.body);
    let page = admin.get(&victim_path).await;
    assert_eq!(page.status, 200, "{victim_path}");
    assert!(page.body.contains("victim@example.com"));

    // Edit the profile and the roles.
    let fields = [("email", "victim@new.example"), ("display_name", "Vic Tim"), ("email_verified", "on")];
    let page = admin.follow(admin.submit(&victim_path, &format!("{victim_path}/profile"), &fields).await).await;
    assert!(page.body.contains("has been saved") && page.body.contains("victim@new.example"), "{}", page.body);
    let page =
        admin.follow(admin.submit(&victim_path, &format!("{victim_path}/roles"), &[("roles", "nosuch")]).await).await;
    assert!(page.body.contains("flash error") && page.body.contains("No role named"), "{}", page.body);

    // The victim signs in and gets tokens.
    let victim = Browser::new(server);
    victim.sign_in("victim", PASSWORD).await;
    let tokens = person_tokens(server, &victim, "web", &web_secret, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(introspect(server, "web", &web_secret, &access).await);
    let page = admin.get(&victim_path).await;
    assert!(page.body.contains("<table id=\"sessions\">"), "the victim's session is listed");

    // Disable: the session ends (the cookie becomes anonymous) and the tokens are revoked.
    let page = admin.follow(admin.submit(&victim_path, &format!("{victim_path}/disable"), &[]).await).await;
    assert!(page.body.contains("victim is disabled: 1 session(s) ended"), "{}", page.body);
    let after = victim.get("/account").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().unwrap().starts_with("/login"));
    assert!(!introspect(server, "web", &web_secret, &access).await, "access token revoked");
    assert!(!introspect(server, "web", &web_secret, &refresh).await, "refresh token revoked");
    let page = victim.submit("/login", "/login", &[("login", "victim"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 200, "a disabled account cannot sign in");
    let page = admin.follow(admin.submit(&victim_path, &format!("{victim_path}/enable"), &[]).await).await;
    assert!(page.body.contains("victim is enabled again"));

    // Set a password with a required change; the policy applies.
    let page = admin
        .follow(admin.submit(&victim_path, &format!("{victim_path}/password"), &[("password", "short")]).await)
        .await;
    assert!(page.body.contains("flash error") && page.body.contains("at least"), "{}", page.body);
    let fields = [("password", "temporary-passphrase-for-vic"), ("require_change", "on")];
    let page = admin.follow(admin.submit(&victim_path, &format!("{victim_path}/password"), &fields).await).await;
    assert!(page.body.contains("A new password is set for victim"));
    assert!(page.body.contains("must be changed at next sign-in"));
    let page = victim.sign_in("victim", "temporary-passphrase-for-vic").await;
    assert_eq!(page.location(), Some("/account/password"));

    // End the victim's sessions from the console.
    let page = admin.follow(admin.submit(&victim_path, &format!("{victim_path}/sessions/end-all"), &[]).await).await;
    assert!(page.body.contains("1 session(s) of victim ended"), "{}", page.body);
    assert_eq!(victim.get("/account").await.status, StatusCode::SEE_OTHER);

    // An administrator cannot lock themselves out.
    let root_path = first_account_link(&admin.get("/admin/accounts?q=root").await.body);
    let page = admin.follow(admin.submit(&root_path, &format!("{root_path}/disable"), &[]).await).await;
    assert!(page.body.contains("cannot disable your own account"), "{}", page.body);
    let page = admin.follow(admin.submit(&root_path, &format!("{root_path}/roles"), &[]).await).await;
    assert!(page.body.contains("cannot remove the admin role from your own account"));

    // Delete with a confirmation step.
    let confirm = admin.get(&format!("{victim_path}/delete")).await;
    assert!(confirm.body.contains("cannot be undone") && confirm.no_store());
    let page =
        admin.follow(admin.submit(&format!("{victim_path}/delete"), &format!("{victim_path}/delete"), &[]).await).await;
    assert!(page.body.contains("The account victim has been deleted."));
    assert_eq!(admin.get(&victim_path).await.status, StatusCode::NOT_FOUND);

    // Clients: register (secret shown once), a URI error, edit, rotate after a confirmation, delete.
    let fields = [
        ("client_id", "shop"),
        ("client_type", "confidential"),
        ("name", "Shop"),
        ("redirect_uris", "http://shop.example/cb"),
        ("scopes", "openid profile"),
        ("grants", "authorization_code"),
        ("id_token_alg", "EdDSA"),
    ];
    let page = admin.submit("/admin/clients/new", "/admin/clients", &fields).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("The client was not registered") && page.body.contains("non-loopback"), "{}", page.body);
    let mut fields = fields.to_vec();
    fields[3] = ("redirect_uris", "https://shop.example/cb\nhttp://127.0.0.1:9000/cb");
    let page = admin.submit("/admin/clients/new", "/admin/clients", &fields).await;
    assert!(page.body.contains("shown <strong>this once</strong>"), "{}", page.body);
    let secret = by_id(&page.body, "client-secret");
    assert_eq!(secret.len(), 43);
    let page = admin.get("/admin/clients/shop").await;
    assert!(!page.body.contains(&secret), "the secret is never shown again");
    assert!(page.body.contains("EdDSA\" selected") || page.body.contains("value=\"EdDSA\" selected"), "{}", page.body);
    let edit = [
        ("name", "Shop 2"),
        ("redirect_uris", "https://shop.example/cb"),
        ("scopes", "openid"),
        ("grants", "authorization_code"),
        ("access_token_lifetime", "120"),
    ];
    let page = admin.follow(admin.submit("/admin/clients/shop", "/admin/clients/shop", &edit).await).await;
    assert!(page.body.contains("Client shop saved.") && page.body.contains("value=\"Shop 2\""), "{}", page.body);
    let confirm = admin.get("/admin/clients/shop/secret").await;
    assert!(confirm.body.contains("stops working at once"));
    let page = admin.submit("/admin/clients/shop/secret", "/admin/clients/shop/secret", &[]).await;
    let rotated = by_id(&page.body, "client-secret");
    assert_ne!(rotated, secret);
    let page = admin.follow(admin.submit("/admin/clients/shop/delete", "/admin/clients/shop/delete", &[]).await).await;
    assert!(page.body.contains("The client shop has been deleted."));

    // Roles page: create, refuse a bad name, delete after confirmation.
    let page = admin
        .follow(admin.submit("/admin/roles", "/admin/roles", &[("name", "auditors"), ("description", "Read")]).await)
        .await;
    assert!(page.body.contains("Role auditors created."));
    let page = admin.follow(admin.submit("/admin/roles", "/admin/roles", &[("name", "No Good")]).await).await;
    assert!(page.body.contains("flash error"));
    let page =
        admin.follow(admin.submit("/admin/roles/auditors/delete", "/admin/roles/auditors/delete", &[]).await).await;
    assert!(page.body.contains("The role auditors has been deleted."));

    // Keys: rotate after a confirmation.
    let before = admin.get("/admin/keys").await;
    assert_eq!(before.body.matches(">active<").count(), 3);
    let page = admin.follow(admin.submit("/admin/keys/rotate", "/admin/keys/rotate", &[]).await).await;
    assert!(page.body.contains("Keys rotated: 3 key(s) activated."), "{}", page.body);
    assert_eq!(page.body.matches(">retired<").count(), 3);

    // The audit log shows who did what to whom, filtered and paginated.
    let page = admin.get("/admin/audit?type=admin.account.disabled").await;
    assert!(page.body.contains("1 event(s)."), "{}", page.body);
    assert!(page.body.contains("console"), "{}", page.body);
    let page = admin.get("/admin/audit?account=root&type=login.success").await;
    assert!(page.body.contains("1 event(s)."), "{}", page.body);
    let page = admin.get("/admin/audit?client=shop").await;
    assert!(page.body.contains("4 event(s)."), "created, updated, secret rotated, deleted: {}", page.body);
    let page = admin.get("/admin/audit?from=2000-01-01&to=2000-01-02").await;
    assert!(page.body.contains("0 event(s)."));
    let page = admin.get("/admin/audit?from=tomorrow").await;
    assert!(page.body.contains("is not a date"));

    // A forged form (no CSRF token) changes nothing.
    let page = admin.post("/admin/roles", &[("name", "forged")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// Confirmation pages
// ---------------------------------------------------------------------------------------------

/// The links of the account page to end one session each.
fn session_end_links(body: &str) -> Vec<String> {
    body.match_indices("href=\"")
        .map(|(i, m)| body[i + m.len()..].split('"').next().unwrap().to_owned())
        .filter(|href| href.contains("/sessions/end?session_id="))
        .collect()
}

/// Disabling an account, setting its password and ending its sessions each go through a page that
/// says what will happen, carries a CSRF token and posts to the unchanged route; loading it alone
/// changes nothing.
async fn destructive_account_actions_ask_first(server: &Server) {
    add_user(server, "root", true);
    add_user(server, "alice", false);
    let admin = Browser::new(server);
    admin.sign_in("root", PASSWORD).await;
    let (laptop, phone) = (Browser::new(server), Browser::new(server));
    laptop.sign_in("alice", PASSWORD).await;
    phone.sign_in("alice", PASSWORD).await;
    let alice = first_account_link(&admin.get("/admin/accounts?q=alice").await.body);

    // The account page links to the confirmation pages; only enabling would post from it.
    let page = admin.get(&alice).await;
    for confirmation in ["disable", "password", "sessions/end-all"] {
        assert!(page.body.contains(&format!("href=\"{alice}/{confirmation}\"")), "{confirmation}: {}", page.body);
        assert!(!page.body.contains(&format!("action=\"{alice}/{confirmation}\"")), "{confirmation}");
    }
    assert!(!page.body.contains("/sessions/end\""), "no one-click form ends a session");
    let ends = session_end_links(&page.body);
    assert_eq!(ends.len(), 2, "{}", page.body);

    // Each page: what happens in plain words, a CSRF token, the action and Cancel back to the account.
    let cases = [
        (
            "disable",
            "Disable alice (alice@example.com)? Their 2 active sessions end; their tokens are revoked and they \
             cannot sign in until the account is enabled again.",
            "Disable the account",
        ),
        (
            "sessions/end-all",
            "End every session of alice (alice@example.com)? Their 2 active sessions end: each browser they are \
             signed in with is signed out at its next request. The account stays enabled",
            "End all sessions",
        ),
        (
            "password",
            "Set a new password for alice (alice@example.com)? Their 2 active sessions end: they sign in again \
             with the new password.",
            "Set the password",
        ),
    ];
    for (action, message, button) in cases {
        let page = admin.get(&format!("{alice}/{action}")).await;
        assert_eq!(page.status, StatusCode::OK, "GET {action}: {}", page.body);
        assert!(page.no_store());
        let text = page.text();
        assert!(text.contains(message), "{action}: {text}");
        assert_eq!(page.csrf_token().len(), 43, "{action}: a CSRF token for the form");
        assert!(
            text.contains(&format!("<form method=\"post\" action=\"{alice}/{action}\" id=\"confirm-form\">")),
            "{text}"
        );
        assert!(text.contains(&format!(">{button}</button><a href=\"{alice}\" id=\"cancel\">Cancel</a>")), "{text}");
    }
    let page = admin.get(&format!("{alice}/password")).await;
    assert!(page.body.contains("type=\"password\"") && page.body.contains("name=\"require_change\""));
    assert!(!page.body.contains("This is your own account"));
    let root = first_account_link(&admin.get("/admin/accounts?q=root").await.body);
    let page = admin.get(&format!("{root}/password")).await;
    assert!(page.body.contains("This is your own account: the session you are using ends too."), "{}", page.body);

    // One session: the page names it and carries its id.
    let page = admin.get(&ends[0]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let text = page.text();
    assert!(text.contains("End the session of alice (alice@example.com) signed in at "), "{text}");
    assert!(text.contains("That browser is signed out at its next request; their other sessions"), "{text}");
    assert!(text.contains(&format!("action=\"{alice}/sessions/end\"")), "{text}");
    assert!(text.contains(&format!("<a href=\"{alice}\" id=\"cancel\">Cancel</a>")));
    let session_id = hidden(&page.body, "session_id");
    assert!(ends[0].ends_with(&session_id));
    let page = admin.get(&format!("{alice}/sessions/end?session_id=nonsense")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("The session to end is missing."), "{}", page.body);
    let page = admin.get(&format!("{alice}/sessions/end?session_id=0192e0b4-5b8a-7000-8000-000000000000")).await;
    assert_eq!(page.location(), Some(alice.as_str()));
    assert!(admin.follow(page).await.body.contains("This session has already ended."));

    // Loading the pages changed nothing: alice is enabled and still signed in twice.
    assert!(laptop.signed_in().await && phone.signed_in().await);
    let page = admin.get(&alice).await;
    assert_eq!(by_id(&page.body, "status"), "active");
    assert_eq!(session_end_links(&page.body).len(), 2);
    // The POST routes still refuse a form without a CSRF token.
    assert_eq!(admin.post(&format!("{alice}/disable"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.post(&format!("{alice}/sessions/end-all"), &[]).await.status, StatusCode::FORBIDDEN);

    // Confirming one session ends that one only.
    let fields = [("session_id", session_id.as_str())];
    let page = admin.follow(admin.submit(&ends[0], &format!("{alice}/sessions/end"), &fields).await).await;
    assert!(page.body.contains("The session has been ended."), "{}", page.body);
    let still = [laptop.signed_in().await, phone.signed_in().await];
    assert_eq!(still.iter().filter(|s| **s).count(), 1, "{still:?}");

    // A refused password comes back to the password page, with the reason.
    let path = format!("{alice}/password");
    let page = admin.submit(&path, &path, &[("password", "short")]).await;
    assert_eq!(page.location(), Some(path.as_str()));
    let page = admin.follow(page).await;
    assert!(page.body.contains("flash error") && page.body.contains("at least"), "{}", page.body);
    assert!(page.body.contains("Their 1 active session ends"));

    // Disabling from its page, with the page's own token.
    let page = admin.get(&format!("{alice}/disable")).await;
    assert!(page.body.contains("Their 1 active session ends;"), "{}", page.body);
    let page = admin.follow(admin.submit(&format!("{alice}/disable"), &format!("{alice}/disable"), &[]).await).await;
    assert!(page.body.contains("alice is disabled: 1 session(s) ended"), "{}", page.body);
    assert_eq!(by_id(&page.body, "status"), "disabled");
    assert!(!laptop.signed_in().await && !phone.signed_in().await);
    // Enabling is one click on the account page.
    assert!(page.body.contains("id=\"enable-form\"") && !page.body.contains("id=\"disable-link\""));
    let page = admin.follow(admin.submit(&alice, &format!("{alice}/enable"), &[]).await).await;
    assert!(page.body.contains("alice is enabled again"));
}

// ---------------------------------------------------------------------------------------------
// First administrator
// ---------------------------------------------------------------------------------------------

fn setup_token(server: &Server) -> String {
    let log = server.log();
    let line = log.lines().rev().find(|l| l.contains("/setup?token=")).unwrap_or_else(|| panic!("no link in {log}"));
    let start = line.find("/setup?token=").unwrap() + "/setup?token=".len();
    line[start..].split(|c: char| c.is_whitespace()).next().unwrap().to_owned()
}

async fn first_admin_setup_link(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    let token = setup_token(&server);
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    let browser = Browser::new(&server);
    let bad = browser.get("/setup?token=wrong").await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert!(bad.body.contains("not valid"));
    let form = browser.get(&format!("/setup?token={token}")).await;
    assert_eq!(form.status, 200);
    assert!(form.no_store());
    let base = [("token", token.as_str()), ("username", "boss"), ("email", "boss@example.com")];
    let mut weak = base.to_vec();
    weak.extend([("password", "password1"), ("password_confirm", "password1")]);
    let page = browser.submit(&format!("/setup?token={token}"), "/setup", &weak).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("field-error"), "{}", page.body);
    let mut good = base.to_vec();
    good.extend([("password", PASSWORD), ("password_confirm", PASSWORD)]);
    let page = browser.submit(&format!("/setup?token={token}"), "/setup", &good).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/admin"));
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("your administrator account is ready"), "{}", page.body);

    let again = Browser::new(&server).get(&format!("/setup?token={token}")).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already been used"));
    let other = Browser::new(&server);
    let replay = other.get("/login").await.csrf_token();
    let mut fields = good.clone();
    fields[1] = ("username", "intruder");
    fields[2] = ("email", "intruder@example.com");
    fields.push(("csrf_token", &replay));
    let page = other.post("/setup", &fields).await;
    assert_eq!(page.status, StatusCode::GONE, "a used link creates nothing");

    // With an administrator, a restart logs no new link.
    let dir = server.stop().unwrap();
    let server = Server::start_in(dir, db, &[]).unwrap();
    assert!(!server.log().contains("/setup?token="), "{}", server.log());
}

/// An expired link: the server's clock cannot be moved, so the token's row is aged in the database.
async fn expired_setup_link_is_refused(db: Db) {
    let server = Server::start(db.clone(), &[]).unwrap();
    let token = setup_token(&server);
    let url = match &db {
        Db::Sqlite => format!("sqlite://{}/data/latchkey.db", server.data_dir().display()),
        Db::Url(url) => url.clone(),
    };
    let store = latchkey_store::SeaStore::connect(&url, 1).await.unwrap();
    // A second token that expired an hour ago, inserted like the server does.
    let now = chrono::Utc::now();
    let expired = "expired-token-expired-token-expired-token-x";
    let hash = latchkey_core::secret::TokenHash::of(expired);
    store.insert_setup_token(&hash, now - chrono::Duration::hours(2), now - chrono::Duration::hours(1)).await.unwrap();
    store.close().await.unwrap();
    let page = Browser::new(&server).get(&format!("/setup?token={expired}")).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("has expired"), "{}", page.body);
    assert_eq!(
        Browser::new(&server).get(&format!("/setup?token={token}")).await.status,
        200,
        "the live one still works"
    );
}

// ---------------------------------------------------------------------------------------------
// 100,000 accounts
// ---------------------------------------------------------------------------------------------

/// Seeds `n` accounts straight through the store, many writers at once (no password hashing:
/// the list pages never look at hashes).
async fn seed_accounts(url: &str, n: usize) {
    let store = latchkey_store::SeaStore::connect(url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let now = chrono::Utc::now();
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            use latchkey_core::store::AccountStore as _;
            for i in (worker..n).step_by(workers) {
                let account = latchkey_core::model::NewAccount {
                    id: latchkey_core::model::AccountId::new(),
                    username: format!("user{i:06}"),
                    email: format!("User{i:06}@Example.com"),
                    email_verified: true,
                    password_hash: None,
                    display_name: (i % 1000 == 7).then(|| format!("Rare Person {i}")),
                };
                store.insert_account(account, now).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.close().await.unwrap();
}

pub const SCALE: usize = 100_000;

async fn search_and_deep_pages_at_100k(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = match &db {
        Db::Sqlite => {
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            format!("sqlite://{}/data/latchkey.db?mode=rwc", dir.path().display())
        }
        Db::Url(url) => url.clone(),
    };
    let started = std::time::Instant::now();
    seed_accounts(&url, SCALE).await;
    eprintln!("seeded {SCALE} accounts in {:?}", started.elapsed());
    let server = Server::start_in(dir, db, &[]).unwrap();
    add_user(&server, "root", true);
    let api = admin_api(&server).await;

    let (_, all) = api.get("/admin/api/v1/accounts?limit=50").await;
    assert_eq!(all["total"], SCALE as u64 + 1);
    let (_, deep) = api.get("/admin/api/v1/accounts?limit=50&offset=99950").await;
    assert_eq!(deep["items"][0]["username"], "user099949", "root sorts before the users");
    assert_eq!(deep["items"].as_array().unwrap().len(), 50);
    let (_, rare) = api.get("/admin/api/v1/accounts?search=RARE%20person&limit=200").await;
    assert_eq!(rare["total"], 100);
    assert_eq!(rare["items"][0]["display_name"], "Rare Person 7");
    let (_, one) = api.get("/admin/api/v1/accounts?search=user054321%40example").await;
    assert_eq!(one["total"], 1);
    let (_, none) = api.get("/admin/api/v1/accounts?search=nobody-at-all").await;
    assert_eq!(none["total"], 0);

    let admin = Browser::new(&server);
    admin.sign_in("root", PASSWORD).await;
    let page = admin.get("/admin/accounts?page=2001").await;
    assert!(page.body.contains("Showing 100001–100001 of 100001"), "{}", &page.body[..page.body.len().min(3000)]);
    let page = admin.get("/admin/accounts?page=1000").await;
    assert!(page.body.contains(">user049949<") && page.body.contains("Page 1000 of 2001"));
    let page = admin.get("/admin/accounts?q=rare+person&page=2").await;
    assert!(page.body.contains("Showing 51–100 of 100"), "{}", &page.body[..page.body.len().min(3000)]);
    assert!(page.body.contains("Rare Person 99007"));
}

// ---------------------------------------------------------------------------------------------
// Both databases
// ---------------------------------------------------------------------------------------------

latchkey_tests::on_both_databases!(
    every_admin_route_refuses_anonymous_and_non_admins,
    api_operations_and_tokens,
    console_operations,
    destructive_account_actions_ask_first
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_setup_link_on_sqlite() {
    first_admin_setup_link(Db::Sqlite).await;
    expired_setup_link_is_refused(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_setup_link_on_postgres() {
    let Some(pg) = TempPostgres::create().await else { return };
    first_admin_setup_link(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
    let Some(pg) = TempPostgres::create().await else { return };
    expired_setup_link_is_refused(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_thousand_accounts_on_sqlite() {
    search_and_deep_pages_at_100k(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_thousand_accounts_on_postgres() {
    let Some(pg) = TempPostgres::create().await else { return };
    search_and_deep_pages_at_100k(Db::Url(pg.url.clone())).await;
    pg.drop_db().await;
}
