//! Load generator for `bench/run.sh`: complete authorization-code flows without a browser,
//! refresh-token rotation, and sign-ins alone, against one `latchkey` on loopback.
//!
//! Modes (the first argument):
//! - `code-flow`: each worker runs whole flows, each with a fresh cookie jar: `GET /authorize`
//!   (PKCE S256, state, nonce, `prompt=consent`) -> the sign-in page -> `POST` of its form with the
//!   next account -> back to `/authorize` -> the consent page -> `POST` "allow" -> the code in the
//!   `Location` of the redirect (never followed) -> `POST /token` with the verifier. One flow = one
//!   Argon2id verification. `prompt=consent` makes every flow show and submit the consent form even
//!   when an account comes round again, so consent is always part of what is measured.
//! - `refresh`: each worker first gets its own refresh token with one code flow (not timed), then
//!   all rotate at once: `grant_type=refresh_token`, and the new refresh token replaces the old.
//! - `login`: `GET /login` + `POST /login` alone (what `login_load.rs` does), for the same table.
//!
//! Prints one JSON object on stdout: mode, workers, seconds, ok, per_second, p50_ms, p99_ms,
//! errors and errors by kind. Loopback base URLs only; every run is bounded by `--seconds` (at most
//! 600) and `--max` operations, and every request by a 30 s timeout.
//!
//! Usage: `flow_load <code-flow|refresh|login> --base-url URL --accounts N --password-file FILE
//! [--prefix bench] [--client-id bench-web --client-secret-file FILE] [--redirect-uri URI]
//! [--scope "openid offline_access"] [--workers 8] [--seconds 10] [--max 100000]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge};

#[path = "load_common.rs"]
mod common;

use common::{Accounts, Args, Cookies, Form, Outcome, percentile, resolve, sign_in};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    CodeFlow,
    Refresh,
    Login,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::CodeFlow => "code-flow",
            Mode::Refresh => "refresh",
            Mode::Login => "login",
        }
    }
}

struct Options {
    mode: Mode,
    base_url: String,
    accounts: Accounts,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    scope: String,
    workers: usize,
    seconds: u64,
    max: usize,
}

fn options(mut args: Args) -> anyhow::Result<Options> {
    let mode = match args.next_flag().as_deref() {
        Some("code-flow") => Mode::CodeFlow,
        Some("refresh") => Mode::Refresh,
        Some("login") => Mode::Login,
        other => bail!("the first argument is the mode: code-flow, refresh or login (got {other:?})"),
    };
    let mut o = Options {
        mode,
        base_url: String::new(),
        accounts: Accounts { prefix: "bench".to_owned(), count: 0, password: String::new() },
        client_id: "bench-web".to_owned(),
        client_secret: String::new(),
        redirect_uri: "https://bench.example/cb".to_owned(),
        // offline_access is what grants a refresh token to a client that is not first-party.
        scope: "openid offline_access".to_owned(),
        workers: 8,
        seconds: 10,
        max: 100_000,
    };
    while let Some(arg) = args.next_flag() {
        match arg.as_str() {
            "--base-url" => o.base_url = common::loopback_base_url(&args.value(&arg)?)?,
            "--accounts" => o.accounts.count = args.parse(&arg)?,
            "--prefix" => o.accounts.prefix = args.value(&arg)?,
            "--password-file" => o.accounts.password = Accounts::read_password(&args.value(&arg)?)?,
            "--client-id" => o.client_id = args.value(&arg)?,
            "--client-secret-file" => o.client_secret = Accounts::read_password(&args.value(&arg)?)?,
            "--redirect-uri" => o.redirect_uri = args.value(&arg)?,
            "--scope" => o.scope = args.value(&arg)?,
            "--workers" => o.workers = args.parse(&arg)?,
            "--seconds" => o.seconds = args.parse(&arg)?,
            "--max" => o.max = args.parse(&arg)?,
            other => bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        !o.base_url.is_empty() && o.accounts.count > 0 && !o.accounts.password.is_empty(),
        "need --base-url, --accounts, --password-file"
    );
    anyhow::ensure!(o.mode == Mode::Login || !o.client_secret.is_empty(), "need --client-secret-file");
    anyhow::ensure!((1..=1024).contains(&o.workers), "--workers: 1 to 1024");
    anyhow::ensure!(o.seconds <= 600 && o.max <= 1_000_000, "bounded runs only: --seconds <= 600, --max <= 1000000");
    Ok(o)
}

/// What one failed step looked like, short enough to count by kind: `POST /login 503`.
type Failure = String;

fn transport(step: &str, err: &reqwest::Error) -> Failure {
    let what = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "transport"
    };
    format!("{step}: {what}")
}

/// The authorization request of one flow, with its secrets.
struct Request {
    url: String,
    state: String,
    verifier: String,
}

fn authorization_request(o: &Options) -> Request {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random().secret().clone();
    let nonce = Nonce::new_random().secret().clone();
    let params = [
        ("response_type", "code"),
        ("client_id", o.client_id.as_str()),
        ("redirect_uri", o.redirect_uri.as_str()),
        ("scope", o.scope.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        // Ask every time, so consent is part of every flow even when an account comes round again.
        ("prompt", "consent"),
    ];
    let url = reqwest::Url::parse_with_params(&format!("{}/authorize", o.base_url), params)
        .map_or_else(|_| format!("{}/authorize", o.base_url), String::from);
    Request { url, state, verifier: verifier.secret().clone() }
}

/// The authorization code from the redirect to the client (RFC 6749 §4.1.2), checked against the
/// registered redirect URI and the state we sent; an `error` response is a failure of its own kind.
fn code_from_redirect(location: &str, redirect_uri: &str, state: &str) -> Result<String, Failure> {
    let Some(query) = location.strip_prefix(redirect_uri).and_then(|rest| rest.strip_prefix('?')) else {
        return Err(format!("redirect elsewhere: {}", location.split('?').next().unwrap_or_default()));
    };
    let param = |name: &str| {
        query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
    };
    if let Some(error) = param("error") {
        return Err(format!("authorization error {error}"));
    }
    if param("state").as_deref() != Some(state) {
        return Err("redirect with the wrong state".to_owned());
    }
    param("code").filter(|c| !c.is_empty()).ok_or_else(|| "redirect without a code".to_owned())
}

/// `application/x-www-form-urlencoded` decoding of one value.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The tokens a flow or a rotation ends with.
struct Tokens {
    refresh_token: Option<String>,
}

/// `POST /token` with the client's Basic credentials; the tokens, or the failure by status and `error`.
async fn token_request(
    http: &reqwest::Client,
    o: &Options,
    form: &[(&str, &str)],
    step: &str,
) -> Result<Tokens, Failure> {
    let res = http
        .post(format!("{}/token", o.base_url))
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(form)
        .send()
        .await
        .map_err(|e| transport(step, &e))?;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.map_err(|e| transport(step, &e))?;
    if status != 200 || body["access_token"].as_str().is_none() {
        return Err(format!("{step} {status} {}", body["error"].as_str().unwrap_or("(no error code)")));
    }
    Ok(Tokens { refresh_token: body["refresh_token"].as_str().map(str::to_owned) })
}

/// GET or POST one step of the flow with the jar's cookies; the status, `Location` and body.
async fn step(
    http: &reqwest::Client,
    o: &Options,
    jar: &mut Cookies,
    name: &str,
    url: &str,
    form: Option<&[(String, String)]>,
) -> Result<(u16, String, String), Failure> {
    let req = match form {
        Some(form) => http.post(url).header(reqwest::header::ORIGIN, &o.base_url).form(form),
        None => http.get(url),
    };
    let res = req.header(reqwest::header::COOKIE, jar.header()).send().await.map_err(|e| transport(name, &e))?;
    jar.absorb(&res);
    let status = res.status().as_u16();
    let location = res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let location = location.to_owned();
    let body = res.text().await.map_err(|e| transport(name, &e))?;
    Ok((status, location, body))
}

/// The form of a page that has `field`, or the failure naming the page.
fn form_with(page: &str, html: &str, field: &str) -> Result<Form, Failure> {
    Form::parse_all(html)
        .into_iter()
        .find(|f| f.method == "post" && f.has_field(field) && f.has_field("csrf_token"))
        .ok_or_else(|| format!("{page}: no form with {field} and csrf_token"))
}

/// One complete authorization-code flow for the `n`th account, in a fresh cookie jar.
async fn code_flow(http: &reqwest::Client, o: &Options, n: usize) -> Result<Tokens, Failure> {
    let mut jar = Cookies::default();
    let request = authorization_request(o);

    let (status, location, _) = step(http, o, &mut jar, "GET /authorize", &request.url, None).await?;
    if !matches!(status, 302 | 303) || !location.contains("/login") {
        return Err(format!("GET /authorize {status} (expected a redirect to sign in)"));
    }
    let (status, _, html) = step(http, o, &mut jar, "GET /login", &resolve(&o.base_url, &location), None).await?;
    if status != 200 {
        return Err(format!("GET /login {status}"));
    }
    let login = form_with("/login", &html, "password")?;
    let mut fields = login.hidden.clone();
    fields.push(("login".to_owned(), o.accounts.name(n)));
    fields.push(("password".to_owned(), o.accounts.password.clone()));
    let url = resolve(&o.base_url, &login.action);
    let (status, back, _) = step(http, o, &mut jar, "POST /login", &url, Some(&fields)).await?;
    if !matches!(status, 302 | 303) || !back.contains("/authorize") {
        return Err(format!("POST /login {status}"));
    }

    let (status, location, html) =
        step(http, o, &mut jar, "GET /authorize (signed in)", &resolve(&o.base_url, &back), None).await?;
    if status != 200 {
        let error = code_from_redirect(&location, &o.redirect_uri, &request.state).err().unwrap_or_default();
        return Err(format!("GET /authorize (signed in) {status} {error}").trim_end().to_owned());
    }
    let consent = form_with("consent page", &html, "ticket")?;
    let Some(allow) = consent.buttons.iter().find(|(_, v)| v == "allow") else {
        return Err("consent page: no allow button".to_owned());
    };
    let mut fields = consent.hidden.clone();
    fields.push(allow.clone());
    let url = resolve(&o.base_url, &consent.action);
    let (status, location, _) = step(http, o, &mut jar, "POST /consent", &url, Some(&fields)).await?;
    if !matches!(status, 302 | 303) {
        return Err(format!("POST /consent {status}"));
    }
    let code = code_from_redirect(&location, &o.redirect_uri, &request.state)?;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", o.redirect_uri.as_str()),
        ("code_verifier", request.verifier.as_str()),
    ];
    token_request(http, o, &form, "POST /token (code)").await
}

async fn rotate(http: &reqwest::Client, o: &Options, refresh_token: &str) -> Result<Tokens, Failure> {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    let tokens = token_request(http, o, &form, "POST /token (refresh)").await?;
    match tokens.refresh_token {
        Some(_) => Ok(tokens),
        None => Err("POST /token (refresh) 200 without a new refresh token".to_owned()),
    }
}

/// One worker's count of successes, their latencies, and its failures by kind.
#[derive(Default)]
struct Tally {
    ok: usize,
    latencies: Vec<Duration>,
    errors: BTreeMap<Failure, usize>,
}

impl Tally {
    fn record<T>(&mut self, started: Instant, result: Result<T, Failure>) -> Option<T> {
        match result {
            Ok(value) => {
                self.ok += 1;
                self.latencies.push(started.elapsed());
                Some(value)
            }
            Err(kind) => {
                *self.errors.entry(kind).or_default() += 1;
                None
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.latencies.extend(other.latencies);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }
}

/// Code flows at once while the refresh workers get their first tokens (below the per-address limit).
const SETUP_SIGN_INS: usize = 8;

/// A refresh token of our own to rotate: one code flow, retried a few times.
async fn first_chain(http: &reqwest::Client, o: &Options, next: &AtomicUsize) -> Result<String, Failure> {
    let mut last = String::new();
    for _ in 0..3 {
        match code_flow(http, o, next.fetch_add(1, Ordering::Relaxed)).await {
            Ok(Tokens { refresh_token: Some(token) }) => return Ok(token),
            Ok(_) => return Err(format!("no refresh token for scope {:?}", o.scope)),
            Err(kind) => last = kind,
        }
    }
    Err(last)
}

async fn worker(
    http: reqwest::Client,
    o: Arc<Options>,
    next: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    barrier: Arc<tokio::sync::Barrier>,
    setup: Arc<tokio::sync::Semaphore>,
) -> Tally {
    let mut tally = Tally::default();
    let mut chain = None;
    if o.mode == Mode::Refresh {
        // A few sign-ins at a time: all workers at once from this one address would pass the
        // server's limit of sign-ins in flight per address (20) and be refused with 429.
        let permit = setup.acquire().await;
        let first = first_chain(&http, &o, &next).await;
        drop(permit);
        match first {
            Ok(token) => chain = Some(token),
            Err(kind) => *tally.errors.entry(format!("getting a refresh token: {kind}")).or_default() += 1,
        }
    }
    // Every worker starts the timed part together (the refresh chains are set up before it).
    barrier.wait().await;
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    while Instant::now() < deadline && done.fetch_add(1, Ordering::Relaxed) < o.max {
        let started = Instant::now();
        match o.mode {
            Mode::CodeFlow => {
                let result = code_flow(&http, &o, next.fetch_add(1, Ordering::Relaxed)).await;
                tally.record(started, result);
            }
            Mode::Login => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let result = match sign_in(&http, &o.base_url, &o.accounts, n, false).await {
                    Ok(Outcome::Success) => Ok(()),
                    Ok(Outcome::Busy(_)) => Err("POST /login 503".to_owned()),
                    Ok(Outcome::Throttled) => Err("POST /login 429".to_owned()),
                    Ok(Outcome::Other(what)) => Err(what),
                    Err(e) => Err(format!("sign-in: {e:#}")),
                };
                tally.record(started, result);
            }
            Mode::Refresh => {
                let Some(token) = chain.take() else { break };
                let result = rotate(&http, &o, &token).await;
                // A broken chain (reuse detection, expiry) is counted, and a new one is started
                // outside the timed operations.
                chain = match tally.record(started, result) {
                    Some(tokens) => tokens.refresh_token,
                    None => first_chain(&http, &o, &next).await.ok(),
                };
            }
        }
    }
    tally
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = Arc::new(options(Args::from_env())?);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?;

    // One flow first: wrong fixtures fail fast with the step that failed.
    let warm_up = match o.mode {
        Mode::Login => match sign_in(&http, &o.base_url, &o.accounts, 0, false).await? {
            Outcome::Success => Ok(()),
            other => Err(format!("{other:?}")),
        },
        Mode::CodeFlow | Mode::Refresh => code_flow(&http, &o, 0).await.map(|_| ()),
    };
    if let Err(kind) = warm_up {
        bail!("a single {} did not succeed: {kind}", o.mode.name());
    }

    let next = Arc::new(AtomicUsize::new(1));
    let done = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(o.workers + 1));
    let setup = Arc::new(tokio::sync::Semaphore::new(SETUP_SIGN_INS));
    let workers: Vec<_> = (0..o.workers)
        .map(|_| {
            let (o, next, done, barrier) = (Arc::clone(&o), Arc::clone(&next), Arc::clone(&done), Arc::clone(&barrier));
            tokio::spawn(worker(http.clone(), o, next, done, barrier, Arc::clone(&setup)))
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut total = Tally::default();
    for w in workers {
        total.merge(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies.sort();
    let errors: usize = total.errors.values().sum();
    let report = serde_json::json!({
        "mode": o.mode.name(),
        "workers": o.workers,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "ok": total.ok,
        "per_second": (total.ok as f64 / elapsed * 10.0).round() / 10.0,
        "p50_ms": (percentile(&total.latencies, 0.5).as_secs_f64() * 1e4).round() / 10.0,
        "p99_ms": (percentile(&total.latencies, 0.99).as_secs_f64() * 1e4).round() / 10.0,
        "errors": errors,
        "error_kinds": total.errors,
    });
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            mode: Mode::CodeFlow,
            base_url: "http://127.0.0.1:9".into(),
            accounts: Accounts { prefix: "bench".into(), count: 5, password: "pw".into() },
            client_id: "bench-web".into(),
            client_secret: "s".into(),
            redirect_uri: "https://bench.example/cb".into(),
            scope: "openid offline_access".into(),
            workers: 1,
            seconds: 1,
            max: 1,
        }
    }

    #[test]
    fn options_are_bounded_and_need_the_fixtures() {
        let err = |args: &[&str]| options(Args::from(args)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(&["fly"]).contains("mode"));
        assert!(err(&["login", "--base-url", "http://192.0.2.1:80"]).contains("refusing"));
        assert!(err(&["login", "--base-url", "http://127.0.0.1:80", "--accounts", "3"]).contains("need"));
        assert!(err(&["refresh", "--seconds"]).contains("needs a value"));
        assert!(err(&["refresh", "--bogus"]).contains("unknown argument"));
    }

    #[test]
    fn the_authorization_request_carries_an_s256_challenge_of_its_verifier() {
        let o = opts();
        let r = authorization_request(&o);
        let url = reqwest::Url::parse(&r.url).unwrap();
        assert_eq!(url.path(), "/authorize");
        let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "bench-web");
        assert_eq!(q["scope"], "openid offline_access");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["state"], r.state);
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(latchkey_core::authorize::verify_pkce(&r.verifier, &q["code_challenge"]));
        assert!(!q["nonce"].is_empty());
        assert_ne!(authorization_request(&o).state, r.state, "fresh per flow");
    }

    #[test]
    fn the_code_comes_from_the_registered_redirect_with_our_state() {
        let cb = "https://bench.example/cb";
        let ok = "https://bench.example/cb?code=c%2B1_x&state=s%201&iss=http%3A%2F%2F127.0.0.1%3A9";
        assert_eq!(code_from_redirect(ok, cb, "s 1").unwrap(), "c+1_x");
        assert_eq!(code_from_redirect(ok, cb, "other").unwrap_err(), "redirect with the wrong state");
        let denied = "https://bench.example/cb?error=access_denied&state=s";
        assert_eq!(code_from_redirect(denied, cb, "s").unwrap_err(), "authorization error access_denied");
        assert_eq!(
            code_from_redirect("https://bench.example/cb?state=s", cb, "s").unwrap_err(),
            "redirect without a code"
        );
        assert!(code_from_redirect("/login?return_to=x", cb, "s").unwrap_err().starts_with("redirect elsewhere"));
        assert!(code_from_redirect("https://bench.example/cb2?code=c&state=s", cb, "s").is_err(), "not a prefix match");
        assert!(code_from_redirect("", cb, "s").is_err());
    }

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "\u{2713}");
    }

    #[test]
    fn a_tally_counts_failures_by_kind() {
        let mut a = Tally::default();
        let t = Instant::now();
        assert_eq!(a.record(t, Ok(1)), Some(1));
        assert_eq!(a.record::<()>(t, Err("POST /login 503".into())), None);
        let mut b = Tally::default();
        b.record::<()>(t, Err("POST /login 503".into()));
        a.merge(b);
        assert_eq!((a.ok, a.latencies.len()), (1, 1));
        assert_eq!(a.errors["POST /login 503"], 2);
    }
}
