//! Several nodes on one PostgreSQL database behave as one server (docs/scaling.md): two real
//! `latchkey serve` processes on two ports, started at the same moment on one fresh database (the
//! migration lock), with the same key-encryption key and issuer, and reqwest (cookie store on,
//! redirects off) as the browser and the relying party, switching nodes mid-flow:
//!
//! - a session created on node A is valid on node B;
//! - a code issued on A is redeemed on B exactly once, and of 20 concurrent redemptions of one code
//!   split across both nodes exactly one consumes it; the other 19 are replays, which revoke every
//!   token issued from it, so whether the first answered before or during them (then it is refused
//!   too, issue #4), no token from the code stays valid;
//! - a refresh on B rotates a refresh token issued on A, and reusing the old one on A afterwards
//!   revokes the family;
//! - login throttling counters are shared: failures on A count on B;
//! - after `latchkey keys rotate` (the CLI, against the same database), B signs with the new key and
//!   serves the newly published one in JWKS within `keys.refresh_interval` (1 s here) plus a
//!   documented allowance.
//!
//! PostgreSQL only (SQLite is a single-node database): without a reachable server the test is
//! skipped loudly, and fails in CI (`TempPostgres::create`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_tests::{Db, Server, TempPostgres, latchkey_command};
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use serde_json::Value;

const PASSWORD: &str = "violet-tractor-sunrise-917";
const REDIRECT: &str = "https://rp.example/callback";
/// The default issuer: both nodes are one server to the outside, so they share it (each listens on
/// its own port; requests go to the real address).
const ISSUER: &str = "http://127.0.0.1:8080";
/// RFC 7636 Appendix B: a verifier and its S256 challenge.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// How often the nodes reload keys in this test (`keys.refresh_interval`).
const KEY_REFRESH: Duration = Duration::from_secs(1);
/// What the key-propagation check allows beyond `KEY_REFRESH` on a loaded 2-core test machine: one
/// reload query, one token request and the polling step (docs/scaling.md states the bound).
const KEY_ALLOWANCE: Duration = Duration::from_secs(2);

/// A fresh key-encryption key (base64 of 32 random bytes) that both nodes and the CLI share.
fn generate_kek() -> String {
    latchkey_core::keys::Kek::generate().unwrap().to_base64()
}

/// Two nodes on one database, and what they share.
struct Cluster {
    a: Server,
    b: Server,
    db: Db,
    env: Vec<(String, String)>,
}

impl Cluster {
    /// Starts both nodes at the same moment on a fresh database, so their migrations (and first key
    /// generation) race: the advisory lock must let both come up.
    fn start(database_url: &str) -> Self {
        let db = Db::Url(database_url.to_owned());
        let env: Vec<(String, String)> = vec![
            ("LATCHKEY_KEYS__ENCRYPTION_KEY".into(), generate_kek()),
            ("LATCHKEY_KEYS__REFRESH_INTERVAL".into(), format!("{}s", KEY_REFRESH.as_secs())),
            // Every reuse of a rotated refresh token revokes its family (no grace for retries), so
            // the reuse check below needs no sleep.
            ("LATCHKEY_TOKENS__REFRESH_REUSE_GRACE".into(), "0s".into()),
        ];
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let nodes: Vec<_> = (0..2)
            .map(|_| {
                let (db, env, barrier) = (db.clone(), env.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    barrier.wait();
                    Server::start(db, &env)
                })
            })
            .collect();
        let mut nodes = nodes.into_iter().map(|t| t.join().unwrap().expect("both nodes start on a fresh database"));
        let (a, b) = (nodes.next().unwrap(), nodes.next().unwrap());
        Self { a, b, db, env }
    }

    /// Runs the CLI against the cluster's database with the cluster's key-encryption key.
    fn cli(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write as _;
        let mut cmd = latchkey_command(self.a.data_dir(), &self.db);
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        // Bounded: a CLI that hangs (on a lock, say) fails the test instead of stalling it.
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("latchkey {args:?} did not finish within 60 s");
        };
        let out = out.unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "latchkey {args:?}:\n{stdout}\n{stderr}");
        stdout.into_owned()
    }

    /// Registers a client and returns its secret (printed once).
    fn add_client(&self, id: &str, extra: &[&str]) -> String {
        let mut args = vec!["clients", "add", id, "--redirect-uri", REDIRECT];
        args.extend_from_slice(extra);
        let out = self.cli(&args, "");
        out.lines().find_map(|l| l.split("store it now): ").nth(1)).expect("the secret is printed").trim().to_owned()
    }
}

/// A browser whose one cookie jar serves both nodes. Cookies do not isolate ports (RFC 6265 §8.5),
/// so a cookie set by 127.0.0.1:A is sent to 127.0.0.1:B, as a load balancer's single origin would.
struct Browser {
    client: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(Arc::new(Jar::default()))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { client }
    }

    async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let (location, retry_after) = (header("location"), header("retry-after"));
        let body = res.text().await.unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        Reply { status, location, retry_after, body }
    }

    async fn get(&self, node: &Server, path: &str) -> Reply {
        Self::read(self.client.get(node.url(path)).send().await.unwrap()).await
    }

    /// A form post from the node's own page (`Origin` is that node's origin).
    async fn post(&self, node: &Server, path: &str, form: &[(&str, &str)]) -> Reply {
        let request = self.client.post(node.url(path)).header("origin", &node.base_url).form(form);
        Self::read(request.send().await.unwrap()).await
    }

    /// Signs in through `node`'s `/login` page.
    async fn login(&self, node: &Server, login: &str, password: &str) -> Reply {
        let page = self.get(node, "/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = hidden(&page.body, "csrf_token");
        self.post(node, "/login", &[("csrf_token", &csrf), ("login", login), ("password", password)]).await
    }

    /// An authorization request for the first-party client on `node`, with the browser signed in:
    /// no consent screen, straight back with a code.
    async fn code(&self, node: &Server, client_id: &str) -> String {
        let query = url_query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("state", "multi-node"),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let reply = self.get(node, &format!("/authorize?{query}")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let location = reply.location.unwrap();
        assert!(location.starts_with(REDIRECT), "a first-party client gets its code at once: {location}");
        let url = reqwest::Url::parse(&location).unwrap();
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(param("iss").as_deref(), Some(ISSUER));
        param("code").expect("a code")
    }
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no {name} in {body}")) + marker.len();
    body[start..].split('"').next().unwrap().replace("&#x3D;", "=").replace("&#x2F;", "/").replace("&amp;", "&")
}

fn url_query(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap().to_owned()
}

/// The relying party's back channel: `POST /token` with Basic client authentication.
struct Rp {
    http: reqwest::Client,
    id: String,
    secret: String,
}

impl Rp {
    fn new(id: &str, secret: String) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { http, id: id.to_owned(), secret }
    }

    async fn token(&self, node: &Server, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(node.url("/token"))
            .basic_auth(&self.id, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        (status, body)
    }

    async fn redeem(&self, node: &Server, code: &str) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", PKCE_VERIFIER),
        ];
        self.token(node, &form).await
    }

    async fn refresh(&self, node: &Server, refresh_token: &str) -> (StatusCode, Value) {
        self.token(node, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}"))
}

fn assert_invalid_grant(status: StatusCode, body: &Value, what: &str) {
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{what}: {body}");
}

/// `latchkey keys list` as (kid, algorithm, state) rows.
fn key_rows(cluster: &Cluster) -> Vec<(String, String, String)> {
    cluster
        .cli(&["keys", "list"], "")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            Some((cols.next()?.to_owned(), cols.next()?.to_owned(), cols.next()?.to_owned()))
        })
        .collect()
}

/// The `kid` of an access token a node issues now (client_credentials, RS256 per RFC 9068).
async fn signing_kid(node: &Server, rp: &Rp) -> String {
    let (status, body) = rp.token(node, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    jsonwebtoken::decode_header(str_field(&body, "access_token")).unwrap().kid.expect("a kid")
}

async fn jwks_kids(node: &Server, http: &reqwest::Client) -> HashSet<String> {
    let jwks: Value = http.get(node.url("/jwks")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn introspect_active(node: &Server, rp: &Rp, token: &str) -> bool {
    let res =
        rp.http.post(node.url("/introspect")).basic_auth(&rp.id, Some(&rp.secret)).form(&[("token", token)]).send();
    let body: Value = res.await.unwrap().json().await.unwrap();
    body["active"].as_bool().unwrap()
}

async fn both_nodes_are_ready(cluster: &Cluster) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    for node in [&cluster.a, &cluster.b] {
        let ready = http.get(node.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "{}", node.log());
    }
    // Migrations ran once (the other node waited on the lock and found nothing to do): a second
    // run now is a no-op, and the racing first key generation left one active key per algorithm
    // (activation locks the algorithm's keys, docs/scaling.md).
    cluster.cli(&["migrate"], "");
    let rows = key_rows(cluster);
    for alg in ["RS256", "ES256", "EdDSA"] {
        let active = rows.iter().filter(|(_, a, s)| a == alg && s == "active").count();
        assert_eq!(active, 1, "one active {alg} key after a concurrent start: {rows:?}");
    }
}

async fn a_session_from_node_a_is_valid_on_node_b(cluster: &Cluster, browser: &Browser) {
    let before = browser.get(&cluster.b, "/account").await;
    assert_eq!(before.status, StatusCode::SEE_OTHER, "not signed in yet");
    assert!(before.location.as_deref().is_some_and(|l| l.starts_with("/login")), "{:?}", before.location);
    let signed_in = browser.login(&cluster.a, "alice", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let account = browser.get(&cluster.b, "/account").await;
    assert_eq!(account.status, StatusCode::OK, "the session cookie from A is accepted by B: {}", account.body);
    assert!(account.body.contains("alice"), "{}", account.body);
}

async fn a_code_from_node_a_is_redeemed_on_node_b_exactly_once(cluster: &Cluster, browser: &Browser, web: &Rp) {
    let code = browser.code(&cluster.a, "web").await;
    let (status, tokens) = web.redeem(&cluster.b, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}\nA:\n{}\nB:\n{}", cluster.a.log(), cluster.b.log());
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string(), "{tokens}");
    for (node, name) in [(&cluster.a, "A"), (&cluster.b, "B")] {
        let (status, body) = web.redeem(node, &code).await;
        assert_invalid_grant(status, &body, &format!("a second redemption on {name}"));
    }
}

async fn twenty_concurrent_redemptions_across_both_nodes_consume_the_code_once(
    cluster: &Cluster,
    browser: &Browser,
    web: &Rp,
) {
    let count = |needle: &str| cluster.a.log().matches(needle).count() + cluster.b.log().matches(needle).count();
    // Earlier steps replayed codes too: count from here, once their log lines (which reach the
    // test through reader threads, after the responses) have all arrived.
    let mut settled = (usize::MAX, Instant::now());
    loop {
        let now = (count("code replayed by client"), count("code replayed during its redemption"));
        if now.0 != settled.0 {
            settled = (now.0, Instant::now());
        } else if settled.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (replays_before, refused_before) =
        (count("code replayed by client"), count("code replayed during its redemption"));
    let code = browser.code(&cluster.a, "web").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &cluster.a } else { &cluster.b };
        let request = web
            .http
            .post(node.url("/token"))
            .basic_auth(&web.id, Some(&web.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", PKCE_VERIFIER),
            ])
            .send();
        tasks.spawn(async move {
            let res = request.await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        });
    }
    let mut answered_with_tokens = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap();
        if status == StatusCode::OK {
            answered_with_tokens.push(body);
        } else {
            assert_invalid_grant(status, &body, "a losing concurrent redemption");
        }
    }
    assert!(answered_with_tokens.len() <= 1, "at most one redemption gets tokens: {answered_with_tokens:?}");

    // Exactly one request consumed the code: each of the other 19 found it consumed, logged the
    // replay and revoked the family. The one that consumed it either answered with tokens, or, when
    // a replay revoked the family while it was storing them, refused (and revoked them).
    let deadline = Instant::now() + Duration::from_secs(10);
    while count("code replayed by client") - replays_before < 19 && Instant::now() < deadline {
        // The nodes' stderr reaches the test through a reader thread, after the responses.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replays = count("code replayed by client") - replays_before;
    let refused_first = count("code replayed during its redemption") - refused_before;
    assert_eq!(
        (replays, refused_first + answered_with_tokens.len()),
        (19, 1),
        "one consumption, 19 replays\nA:\n{}\nB:\n{}",
        cluster.a.log(),
        cluster.b.log()
    );
    // RFC 6749 §4.1.2: whatever the first redemption handed out is revoked by the replays.
    for tokens in &answered_with_tokens {
        assert!(!introspect_active(&cluster.a, web, str_field(tokens, "access_token")).await, "{tokens}");
        let (status, body) = web.refresh(&cluster.b, str_field(tokens, "refresh_token")).await;
        assert_invalid_grant(status, &body, "the refresh token of a replayed code");
    }
    eprintln!(
        "20 concurrent redemptions: {} answered with (since revoked) tokens, {refused_first} refused during a replay",
        answered_with_tokens.len()
    );
}

async fn a_refresh_on_node_b_rotates_a_token_issued_on_node_a(cluster: &Cluster, browser: &Browser, web: &Rp) {
    let code = browser.code(&cluster.a, "web").await;
    let (status, issued) = web.redeem(&cluster.a, &code).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let old_refresh = str_field(&issued, "refresh_token").to_owned();

    let (status, rotated) = web.refresh(&cluster.b, &old_refresh).await;
    assert_eq!(status, StatusCode::OK, "B rotates A's refresh token: {rotated}");
    let new_refresh = str_field(&rotated, "refresh_token").to_owned();
    let new_access = str_field(&rotated, "access_token").to_owned();
    assert_ne!(new_refresh, old_refresh);
    assert!(introspect_active(&cluster.a, web, &new_access).await, "B's access token is active on A");

    // RFC 9700 §4.14.2: the rotated-out token replayed (on A, after B rotated it) revokes the family.
    let (status, body) = web.refresh(&cluster.a, &old_refresh).await;
    assert_invalid_grant(status, &body, "reusing the rotated refresh token on A");
    let (status, body) = web.refresh(&cluster.b, &new_refresh).await;
    assert_invalid_grant(status, &body, "the family was revoked, so B's new refresh token is dead too");
    assert!(!introspect_active(&cluster.b, web, &new_access).await, "the family's access token is revoked");
}

async fn login_failures_on_node_a_count_on_node_b(cluster: &Cluster) {
    let attacker = Browser::new();
    // The per-identifier allowance is 5 free attempts (core::throttle), wherever they land.
    for (i, node) in [&cluster.a, &cluster.b, &cluster.a, &cluster.b, &cluster.a].into_iter().enumerate() {
        let reply = attacker.login(node, "carol", &format!("wrong-guess-number-{i}")).await;
        assert_eq!(reply.status, StatusCode::OK, "free attempt {i}: {}", reply.body);
        assert!(reply.body.contains("Incorrect username or password."), "{}", reply.body);
    }
    // The sixth, even with the right password, waits for the delay on both nodes.
    for (node, name) in [(&cluster.b, "B"), (&cluster.a, "A")] {
        let reply = attacker.login(node, "carol", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{name} counts the other node's failures");
        let retry: u64 = reply.retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=2).contains(&retry), "the first delay (2 s): Retry-After {retry}");
    }
}

async fn a_rotation_reaches_node_b_within_the_refresh_interval(cluster: &Cluster, svc: &Rp) {
    let before: HashSet<String> = key_rows(cluster).into_iter().map(|(kid, _, _)| kid).collect();
    let (status, old) = svc.token(&cluster.b, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{old}");
    let old_access = str_field(&old, "access_token").to_owned();
    let old_kid = signing_kid(&cluster.b, svc).await;

    let output = cluster.cli(&["keys", "rotate"], "");
    let rotated_at = Instant::now();
    // The CLI names the keys it activated, one per algorithm (these access tokens are RS256).
    let activated: HashSet<String> =
        output.lines().filter_map(|l| l.strip_prefix("activated ")).map(|k| k.trim().to_owned()).collect();
    assert_eq!(activated.len(), 3, "{output}");
    assert!(!activated.contains(&old_kid), "the rotation activated another key");

    // Poll each node until it signs with the activated key and serves a newly generated key in
    // JWKS; bounded, and timed from the CLI's exit, so nothing else (like listing the keys) is
    // counted against the node. The two conditions are checked separately: the rotation commits
    // the activation and the new key one after the other, and a reload may fall in between.
    let mut switched = Vec::new();
    for (node, name) in [(&cluster.b, "B"), (&cluster.a, "A")] {
        let deadline = rotated_at + Duration::from_secs(15);
        let took = loop {
            let signs_new = activated.contains(&signing_kid(node, svc).await);
            if signs_new && jwks_kids(node, &svc.http).await.iter().any(|kid| !before.contains(kid)) {
                break rotated_at.elapsed();
            }
            assert!(Instant::now() < deadline, "{name} never picked up the rotation:\n{}", node.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!(
            "node {name} signs with the rotated key and serves the new one {took:?} after `keys rotate` returned"
        );
        switched.push((node, name, took));
    }
    // The new key each node serves is the one the rotation published.
    let new_next: Vec<String> = key_rows(cluster)
        .into_iter()
        .filter(|(kid, alg, state)| alg == "RS256" && state == "next" && !before.contains(kid))
        .map(|(kid, _, _)| kid)
        .collect();
    assert_eq!(new_next.len(), 1, "the rotation published one new RS256 key: {new_next:?}");
    for (node, name, took) in switched {
        assert!(jwks_kids(node, &svc.http).await.contains(&new_next[0]), "{name} serves the newly published key");
        assert!(
            took <= KEY_REFRESH + KEY_ALLOWANCE,
            "{name} took {took:?}; the documented bound is keys.refresh_interval ({KEY_REFRESH:?}) + {KEY_ALLOWANCE:?}"
        );
    }
    // A token signed before the rotation still verifies: the retired key stays published.
    assert!(introspect_active(&cluster.b, svc, &old_access).await);
    assert!(jwks_kids(&cluster.a, &svc.http).await.contains(&old_kid));
}

#[tokio::test]
async fn two_nodes_on_one_postgres_behave_as_one_server() {
    let Some(pg) = TempPostgres::create().await else { return };
    let cluster = Cluster::start(&pg.url);
    both_nodes_are_ready(&cluster).await;

    for user in ["alice", "carol"] {
        cluster.cli(&["users", "add", user, "--email", &format!("{user}@example.com")], &format!("{PASSWORD}\n"));
    }
    let scopes = ["--scope", "openid", "--scope", "offline_access"];
    let web = Rp::new("web", cluster.add_client("web", &[&["--first-party"][..], &scopes].concat()));
    let svc = Rp::new("svc", cluster.add_client("svc", &["--grant", "client_credentials"]));

    let browser = Browser::new();
    a_session_from_node_a_is_valid_on_node_b(&cluster, &browser).await;
    a_code_from_node_a_is_redeemed_on_node_b_exactly_once(&cluster, &browser, &web).await;
    twenty_concurrent_redemptions_across_both_nodes_consume_the_code_once(&cluster, &browser, &web).await;
    a_refresh_on_node_b_rotates_a_token_issued_on_node_a(&cluster, &browser, &web).await;
    login_failures_on_node_a_count_on_node_b(&cluster).await;
    a_rotation_reaches_node_b_within_the_refresh_interval(&cluster, &svc).await;

    for node in [&cluster.a, &cluster.b] {
        assert!(!node.log().contains("panicked"), "{}", node.log());
    }
    drop(cluster);
    pg.drop_db().await;
}
