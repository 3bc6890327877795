//! The account console end to end, against the real binary on SQLite and on PostgreSQL: profile and
//! email changes, password changes (policy, signing out other sessions), the sessions list and
//! ending sessions (never another account's), revoking a connected application that got its tokens
//! through the real authorization code flow (the `openidconnect` crate as the relying party), and
//! the activity page. reqwest with a cookie store and no redirects plays the browser.
//!
//! The server keeps its default issuer (`http://127.0.0.1:8080`) while listening on a random port;
//! requests meant for the issuer are sent to the real address (as in `oidc_flow.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use latchkey_tests::{Db, Server, TempPostgres, run_cli};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IntrospectionUrl, IssuerUrl,
    Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenIntrospectionResponse as _,
};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use reqwest::header::HeaderMap;

const PASSWORD: &str = "violet-tractor-sunrise-917";
const NEW_PASSWORD: &str = "copper-lantern-meadow-204";
const ISSUER: &str = "http://127.0.0.1:8080";
const REDIRECT: &str = "https://rp.example/callback";
const TAKEN: &str = "That username or email cannot be used.";
const WRONG: &str = "That is not your current password.";
const INVALID: &str = "Incorrect username or password.";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                          Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// Sends a request meant for the issuer's address to the server's real one.
fn to_server(url: &str, base: &str) -> String {
    match url.strip_prefix(ISSUER) {
        Some(rest) => format!("{base}{rest}"),
        None => url.to_owned(),
    }
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The value of the hidden (or any) input `name`, with tera's attribute escaping undone for the
    /// few characters these values contain.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", self.body)) + marker.len();
        let raw = self.body[start..].split('"').next().unwrap();
        raw.replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
    }

    /// Every value of the inputs named `name`, in page order.
    fn fields(&self, name: &str) -> Vec<String> {
        let marker = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&marker)
            .map(|(i, _)| self.body[i + marker.len()..].split('"').next().unwrap().to_owned())
            .collect()
    }
}

/// A browser: its own cookie jar and user agent, no automatic redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(server: &Server, user_agent: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::new(Jar::default()))
            .user_agent(user_agent)
            .build()
            .unwrap();
        Self { client, base: server.base_url.clone() }
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with('/') { format!("{}{target}", self.base) } else { to_server(target, &self.base) }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        Page { status, headers, body }
    }

    async fn get(&self, target: &str) -> Page {
        Self::read(self.client.get(self.url(target)).send().await.unwrap()).await
    }

    /// A form post as a browser sends it from our own page.
    async fn post(&self, target: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.client.post(self.url(target)).header("origin", &self.base).form(fields);
        Self::read(request.send().await.unwrap()).await
    }

    /// Loads `page` for its CSRF token, then posts `fields` with it to `action`.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(page).await.field("csrf_token");
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }

    async fn signup(&self, username: &str) {
        let email = format!("{username}@example.com");
        let fields =
            [("username", username), ("email", &email), ("password", PASSWORD), ("password_confirm", PASSWORD)];
        let page = self.submit("/signup", "/signup", &fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    async fn login(&self, login: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("login", login), ("password", password)]).await
    }

    async fn signed_in(&self) -> bool {
        let page = self.get("/account").await;
        match page.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => false,
            other => panic!("/account answered {other}"),
        }
    }
}

fn password_change<'a>(current: &'a str, new: &'a str, confirm: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("current_password", current), ("new_password", new), ("new_password_confirm", confirm)]
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn profile_edit_and_email_change(server: &Server) {
    let alice = Browser::new(server, FIREFOX);
    alice.signup("alice").await;
    Browser::new(server, FIREFOX).signup("bob").await;

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
    let other = Browser::new(server, SAFARI_IOS);
    assert!(other.login("alice@example.com", PASSWORD).await.body.contains(INVALID));
    assert_eq!(other.login("liddell@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

async fn password_change_with_policy_errors_and_signing_out_others(server: &Server) {
    let laptop = Browser::new(server, FIREFOX);
    laptop.signup("alice").await;
    let phone = Browser::new(server, SAFARI_IOS);
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

    let fresh = Browser::new(server, SAFARI_IOS);
    assert!(fresh.login("alice", PASSWORD).await.body.contains(INVALID), "the old password is gone");
    assert_eq!(fresh.login("alice", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);
}

async fn sessions_list_and_ending_sessions(server: &Server) {
    let laptop = Browser::new(server, FIREFOX);
    laptop.signup("alice").await;
    let phone = Browser::new(server, SAFARI_IOS);
    assert_eq!(phone.login("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // Bob, signed in twice: his first browser sees the id of his second session.
    let bob1 = Browser::new(server, FIREFOX);
    bob1.signup("bob").await;
    let bob2 = Browser::new(server, FIREFOX);
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

/// Registers a confidential client through the CLI; returns its secret.
fn register_client(server: &Server) -> String {
    let args = [
        "clients",
        "add",
        "photos",
        "--name",
        "Photo Album",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--scope",
        "email",
        "--scope",
        "offline_access",
    ];
    let out = run_cli(server.data_dir(), &server.db, &args, "").unwrap();
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    out.stdout
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .expect("the secret is printed once")
        .trim()
        .to_owned()
}

/// The relying party's HTTP client for `openidconnect`: no redirects, issuer URLs to the server.
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

async fn revoking_a_connected_app_ends_its_tokens(server: &Server) {
    let secret = register_client(server);
    let browser = Browser::new(server, FIREFOX);
    browser.signup("alice").await;
    assert!(browser.get("/account/apps").await.body.contains("No connected applications."));

    // The real code flow: authorize, consent, code exchange with PKCE.
    let http = rp_http(server.base_url.clone());
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(ISSUER.into()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("photos".into()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(format!("{ISSUER}/introspect")).unwrap());
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
    let answer = browser
        .post(
            "/consent",
            &[
                ("csrf_token", &consent.field("csrf_token")),
                ("request", &consent.field("request")),
                ("issued_at", &consent.field("issued_at")),
                ("ticket", &consent.field("ticket")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let callback = reqwest::Url::parse(answer.location().unwrap()).unwrap();
    let code = callback.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let refresh = tokens.refresh_token().expect("offline_access was granted").clone();
    assert!(client.introspect(tokens.access_token()).request_async(&http).await.unwrap().active());

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
    assert!(client.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.is_err(), "refresh refused");
    assert!(!client.introspect(tokens.access_token()).request_async(&http).await.unwrap().active(), "access inactive");
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
    let alice = Browser::new(server, FIREFOX);
    alice.signup("alice").await;
    let bob = Browser::new(server, FIREFOX);
    bob.signup("bob").await;
    let stranger = Browser::new(server, SAFARI_IOS);
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

macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            use super::{Db, Server};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let server = Server::start(Db::Sqlite, &[]).unwrap();
                    super::$scenario(&server).await;
                }
            )*
        }
        mod postgres {
            use super::{Db, Server, TempPostgres};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(pg) = TempPostgres::create().await else { return };
                    let server = Server::start(Db::Url(pg.url.clone()), &[]).unwrap();
                    super::$scenario(&server).await;
                    drop(server);
                    pg.drop_db().await;
                }
            )*
        }
    };
}

on_both_databases!(
    profile_edit_and_email_change,
    password_change_with_policy_errors_and_signing_out_others,
    sessions_list_and_ending_sessions,
    revoking_a_connected_app_ends_its_tokens,
    activity_shows_own_events_only,
);
