//! A person's browser over plain HTTP for the end-to-end tests: reqwest with its own cookie jar and
//! no automatic redirects, posting forms the way our own pages do (with `Origin`), and reading what
//! a test needs from the pages (hidden fields such as CSRF tokens and consent tickets). Also the
//! back channel of a relying party that talks to the token and introspection endpoints by hand.
//!
//! Every helper fails the test loudly (panics) on a transport error, and every page read through
//! [`Browser`] fails it on a 500: a security product answers bad input with a clear error.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::Server;

/// The default issuer. Test servers keep it while listening on a random port, so requests meant for
/// it are sent to the server's real address ([`to_server`]).
pub const ISSUER: &str = "http://127.0.0.1:8080";

/// Sends a request meant for the issuer's address to the server's real one (`base`).
pub fn to_server(url: &str, base: &str) -> String {
    match url.strip_prefix(ISSUER) {
        Some(rest) => format!("{base}{rest}"),
        None => url.to_owned(),
    }
}

/// The value of the first input `name` in `body`, with tera's attribute escaping undone for the few
/// characters these values contain (`=`, `/`, `&`).
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no {name} in {body}")) + marker.len();
    let raw = body[start..].split('"').next().unwrap_or_default();
    raw.replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
}

/// A query parameter of an absolute URL (a redirect to a client, say).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url} is not an absolute URL: {e}"));
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn url_encode(s: &str) -> String {
    url_query(&[("v", s)])["v=".len()..].to_owned()
}

/// `pairs` as a `application/x-www-form-urlencoded` query string.
pub fn url_query(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap_or_else(|e| unreachable!("a valid literal URL: {e}"));
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// What the browser got back: status, headers and the body as text.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header, if any.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The value of the hidden (or any) input `name`; see [`hidden`].
    pub fn field(&self, name: &str) -> String {
        hidden(&self.body, name)
    }

    /// Every value of the inputs named `name`, in page order (as in the page, not unescaped).
    pub fn fields(&self, name: &str) -> Vec<String> {
        let marker = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&marker)
            .map(|(i, _)| self.body[i + marker.len()..].split('"').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The page's CSRF token (the hidden `csrf_token` field).
    pub fn csrf_token(&self) -> String {
        self.field("csrf_token")
    }

    /// Every `Set-Cookie` header, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap_or_default().to_owned()).collect()
    }

    /// The `Set-Cookie` header that sets `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    /// Whether the page says `Cache-Control: no-store`.
    pub fn no_store(&self) -> bool {
        self.headers.get("cache-control").and_then(|v| v.to_str().ok()) == Some("no-store")
    }

    /// The body with tera's escaping of `/`, `'`, `"` and `&` undone, to look for text and URLs.
    pub fn text(&self) -> String {
        self.body.replace("&#x2F;", "/").replace("&#x27;", "'").replace("&quot;", "\"").replace("&amp;", "&")
    }
}

/// A browser: its own cookie jar (and user agent, if given), no automatic redirects.
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Browser {
    /// A browser for `server`, with reqwest's default user agent.
    pub fn new(server: &Server) -> Self {
        Self::build(server, None)
    }

    /// A browser for `server` that sends this `User-Agent` (the sessions list names devices by it).
    pub fn with_user_agent(server: &Server, user_agent: &str) -> Self {
        Self::build(server, Some(user_agent))
    }

    /// A browser for whatever listens at `base` (an origin such as `http://127.0.0.1:8081`): the
    /// demo relying party, or a server this harness did not start.
    pub fn at(base: &str) -> Self {
        Self::with_base(base.trim_end_matches('/'), None)
    }

    fn build(server: &Server, user_agent: Option<&str>) -> Self {
        Self::with_base(&server.base_url, user_agent)
    }

    fn with_base(base: &str, user_agent: Option<&str>) -> Self {
        let jar = Arc::new(Jar::default());
        let mut builder =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_provider(jar.clone());
        if let Some(user_agent) = user_agent {
            builder = builder.user_agent(user_agent);
        }
        let client = builder.build().unwrap_or_else(|e| panic!("building the HTTP client: {e}"));
        Self { client, jar, base: base.to_owned() }
    }

    /// The underlying client (same cookie jar), for requests the helpers do not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The server's base URL (its origin).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `target`: a path on the server, or an absolute URL (meant for the issuer,
    /// sent to the server's real address).
    pub fn url(&self, target: &str) -> String {
        if target.starts_with('/') { format!("{}{target}", self.base) } else { to_server(target, &self.base) }
    }

    /// Reads a response into a [`Page`]; a 500 fails the test.
    pub async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_else(|e| panic!("reading the body: {e}"));
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        Page { status, headers, body }
    }

    /// Sends a request built on [`Browser::client`] and reads it.
    pub async fn send(request: reqwest::RequestBuilder) -> Page {
        Self::read(request.send().await.unwrap_or_else(|e| panic!("sending the request: {e}"))).await
    }

    pub async fn get(&self, target: &str) -> Page {
        Self::send(self.client.get(self.url(target))).await
    }

    /// A form post as a browser sends it from our own page (`Origin` is the page's origin).
    pub async fn post(&self, target: &str, fields: &[(&str, &str)]) -> Page {
        Self::send(self.client.post(self.url(target)).header("origin", &self.base).form(fields)).await
    }

    /// Loads `page` for its CSRF token, then posts `fields` with it to `action`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(page).await.csrf_token();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }

    /// The sign-up form, filled in and sent.
    pub async fn signup(&self, username: &str, email: &str, password: &str) -> Page {
        let fields = [("username", username), ("email", email), ("password", password), ("password_confirm", password)];
        self.submit("/signup", "/signup", &fields).await
    }

    /// The sign-in form, filled in and sent, whatever the answer.
    pub async fn login(&self, login: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("login", login), ("password", password)]).await
    }

    /// Signs in, failing the test unless the form redirects (a successful sign-in).
    pub async fn sign_in(&self, login: &str, password: &str) -> Page {
        let page = self.login(login, password).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "sign-in of {login}: {}", page.body);
        page
    }

    /// Whether `/account` opens (signed in) or sends the browser away (not signed in).
    pub async fn signed_in(&self) -> bool {
        let page = self.get("/account").await;
        match page.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => false,
            other => panic!("/account answered {other}"),
        }
    }

    /// Follows one redirect after a form post and returns the page it leads to.
    pub async fn follow(&self, page: Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        self.get(page.location().unwrap_or_default()).await
    }

    /// Answers the consent page `consent` with `decision` (`allow` or `deny`).
    pub async fn consent(&self, consent: &Page, decision: &str) -> Page {
        let fields = [
            ("csrf_token", consent.field("csrf_token")),
            ("request", consent.field("request")),
            ("issued_at", consent.field("issued_at")),
            ("ticket", consent.field("ticket")),
        ];
        let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("decision", decision));
        self.post("/consent", &fields).await
    }

    /// An authorization request with `query` (which names `redirect_uri`) from this signed-in browser
    /// for a client that asks no consent (first-party, or consented before): the code the browser
    /// is sent back with.
    pub async fn authorization_code(&self, query: &[(&str, &str)]) -> String {
        let page = self.get(&format!("/authorize?{}", url_query(query))).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let location = page.location().unwrap_or_default();
        let redirect = query.iter().find(|(k, _)| *k == "redirect_uri").map(|(_, v)| *v).unwrap_or_default();
        assert!(location.starts_with(redirect), "back at the client with a code: {location}");
        query_param(location, "code").unwrap_or_else(|| panic!("a code in {location}"))
    }

    /// The `Cookie` header this browser would send.
    pub fn cookie_header(&self) -> String {
        self.jar.cookies(&self.base_url()).map(|v| v.to_str().unwrap_or_default().to_owned()).unwrap_or_default()
    }

    /// The value of cookie `name` in this browser's jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_header().split("; ").find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// Puts a cookie in the jar as if the server (or an attacker) had set it.
    pub fn plant_cookie(&self, name: &str, value: &str) {
        self.jar.add_cookie_str(&format!("{name}={value}; Path=/"), &self.base_url());
    }

    fn base_url(&self) -> reqwest::Url {
        self.base.parse().unwrap_or_else(|e| panic!("{} is not a URL: {e}", self.base))
    }
}

/// A client's `POST /token` with HTTP Basic authentication; fails the test unless it answers 200.
pub async fn token(server: &Server, client_id: &str, secret: &str, form: &[(&str, &str)]) -> Value {
    let res = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /token: {e}"));
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_else(|e| panic!("the token response is not JSON: {e}"));
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A client_credentials access token for `scope`.
pub async fn client_credentials(server: &Server, client_id: &str, secret: &str, scope: &str) -> String {
    let body = token(server, client_id, secret, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
    body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {body}")).to_owned()
}

/// An automation client allowed `latchkey:admin`, registered through the CLI with `extra`
/// arguments (more scopes, say), and its token for that scope.
pub async fn admin_token(server: &Server, client_id: &str, extra: &[&str]) -> String {
    let mut args = vec!["--redirect-uri", "https://ops.example/unused", "--grant", "client_credentials"];
    args.extend(["--scope", "latchkey:admin"]);
    args.extend(extra);
    let secret = crate::add_client(server, client_id, &args);
    client_credentials(server, client_id, &secret, "latchkey:admin").await
}

/// Exchanges an authorization code (with the PKCE `verifier`) at the token endpoint.
pub async fn exchange_code(
    server: &Server,
    (client_id, secret): (&str, &str),
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    token(server, client_id, secret, &form).await
}

/// RFC 7662 introspection of `token` by the client; fails the test unless it answers 200.
pub async fn introspect(server: &Server, client_id: &str, secret: &str, token: &str) -> Value {
    let res = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /introspect: {e}"));
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap_or_else(|e| panic!("the introspection response is not JSON: {e}"))
}
