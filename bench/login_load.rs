//! Login load generator for `bench/login.sh`: signs in as many distinct accounts as it can, as a
//! browser would (GET /login for the CSRF token and cookie, then POST /login), and measures the
//! latency of cheap endpoints with and without that flood.
//!
//! Why a program of our own: `oha`/`wrk` replay one fixed request, but every sign-in needs a fresh
//! CSRF token and the cookie it is bound to. Talks to the given base URL only (loopback, anything
//! else is refused); every loop is bounded by a count and a deadline. Shares `load_common.rs` with `flow_load.rs`.
//!
//! Usage: `login_load --base-url URL --accounts N [--prefix bench] [--password-file FILE]
//! [--concurrency 8,200] [--seconds 30] [--max-logins 20000] [--probe /healthz] [--forwarded-for]`
//! Prints a Markdown report on stdout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::Mutex;

#[path = "load_common.rs"]
mod common;

use common::{Accounts, Args, Outcome, ms, percentile, sign_in};

struct Options {
    base_url: String,
    accounts: Accounts,
    concurrency: Vec<usize>,
    seconds: u64,
    max_logins: usize,
    probes: Vec<String>,
    /// Send a distinct `X-Forwarded-For` per sign-in (the server must trust 127.0.0.1 as a proxy),
    /// so the per-IP sign-in throttle sees many clients instead of one.
    forwarded_for: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        base_url: String::new(),
        accounts: Accounts { prefix: "bench".to_owned(), count: 0, password: String::new() },
        concurrency: vec![8, 200],
        seconds: 30,
        max_logins: 20_000,
        probes: Vec::new(),
        forwarded_for: false,
    };
    let mut args = Args::from_env();
    while let Some(arg) = args.next_flag() {
        match arg.as_str() {
            "--base-url" => o.base_url = common::loopback_base_url(&args.value(&arg)?)?,
            "--accounts" => o.accounts.count = args.parse(&arg)?,
            "--prefix" => o.accounts.prefix = args.value(&arg)?,
            "--password-file" => o.accounts.password = Accounts::read_password(&args.value(&arg)?)?,
            "--concurrency" => {
                o.concurrency = args.value(&arg)?.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--seconds" => o.seconds = args.parse(&arg)?,
            "--max-logins" => o.max_logins = args.parse(&arg)?,
            "--probe" => o.probes.push(args.value(&arg)?),
            "--forwarded-for" => o.forwarded_for = true,
            other => bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        !o.base_url.is_empty() && o.accounts.count > 0 && !o.accounts.password.is_empty(),
        "need --base-url, --accounts, --password-file"
    );
    anyhow::ensure!(o.seconds <= 600 && o.max_logins <= 1_000_000, "bounded runs only");
    if o.probes.is_empty() {
        o.probes = vec!["/healthz".to_owned(), "/.well-known/openid-configuration".to_owned()];
    }
    Ok(o)
}

async fn login(http: &reqwest::Client, o: &Options, n: usize) -> anyhow::Result<Outcome> {
    sign_in(http, &o.base_url, &o.accounts, n, o.forwarded_for).await
}

/// Latencies of one probe path, and how many answers were not 200.
#[derive(Default)]
struct Probe {
    latencies: Vec<Duration>,
    failures: usize,
}

impl Probe {
    fn row(&mut self, path: &str, when: &str) -> String {
        self.latencies.sort();
        let l = &self.latencies;
        format!(
            "| {path} | {when} | {} | {} | {} | {} | {} |",
            l.len(),
            ms(percentile(l, 0.5)),
            ms(percentile(l, 0.99)),
            ms(l.last().copied().unwrap_or_default()),
            self.failures
        )
    }
}

/// Requests each probe path in turn, one at a time, until `stop` or `limit` rounds.
async fn probe(http: &reqwest::Client, base: &str, paths: &[String], stop: &AtomicBool, limit: usize) -> Vec<Probe> {
    let mut results: Vec<Probe> = paths.iter().map(|_| Probe::default()).collect();
    for _ in 0..limit {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for (path, result) in paths.iter().zip(&mut results) {
            let started = Instant::now();
            match http.get(format!("{base}{path}")).send().await {
                Ok(res) if res.status() == 200 => {
                    let _ = res.bytes().await;
                    result.latencies.push(started.elapsed());
                }
                _ => result.failures += 1,
            }
        }
        // A light, steady probe (~50 rounds/s) that does not itself load the server.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    results
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = Arc::new(options()?);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?;

    // Which probes exist: a 404 discovery document falls back to /readyz, as the brief allows.
    let mut paths = Vec::new();
    for path in &o.probes {
        let status = http.get(format!("{}{path}", o.base_url)).send().await?.status();
        if status == 200 {
            paths.push(path.clone());
        } else {
            eprintln!("probe {path} answers {status}; using /readyz instead");
            if !paths.iter().any(|p| p == "/readyz") {
                paths.push("/readyz".to_owned());
            }
        }
    }

    // Warm-up sign-in: fails fast if the accounts or the form are not what we expect.
    let first = login(&http, &o, 0).await?;
    anyhow::ensure!(first == Outcome::Success, "a single sign-in did not succeed: {first:?}");

    let quiet_stop = AtomicBool::new(false);
    let mut quiet = probe(&http, &o.base_url, &paths, &quiet_stop, 500).await;

    println!("### Sign-in throughput\n");
    println!(
        "| concurrent sign-ins | seconds | successful | per second | 503 (with Retry-After) | 429 | other | sign-in p50 | sign-in p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut flooded = Vec::new();
    let next = Arc::new(AtomicUsize::new(1));
    for &concurrency in &o.concurrency {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(BTreeMap::<Outcome, usize>::new()));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(o.seconds);
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (http, o, next, stop) = (http.clone(), Arc::clone(&o), Arc::clone(&next), Arc::clone(&stop));
            let (outcomes, latencies) = (Arc::clone(&outcomes), Arc::clone(&latencies));
            workers.push(tokio::spawn(async move {
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > o.max_logins {
                        break;
                    }
                    let t = Instant::now();
                    let outcome = login(&http, &o, n).await.unwrap_or_else(|e| Outcome::Other(format!("{e:#}")));
                    if outcome == Outcome::Success {
                        latencies.lock().await.push(t.elapsed());
                    }
                    *outcomes.lock().await.entry(outcome).or_default() += 1;
                }
            }));
        }
        let probe_stop = Arc::new(AtomicBool::new(false));
        let prober = {
            let (http, o, paths, probe_stop) = (http.clone(), Arc::clone(&o), paths.clone(), Arc::clone(&probe_stop));
            tokio::spawn(async move { probe(&http, &o.base_url, &paths, &probe_stop, 100_000).await })
        };
        for worker in workers {
            let _ = worker.await;
        }
        let elapsed = started.elapsed();
        probe_stop.store(true, Ordering::Relaxed);
        let under_load = prober.await?;
        next.store(1, Ordering::Relaxed);

        let outcomes = outcomes.lock().await.clone();
        let mut latencies = latencies.lock().await.clone();
        latencies.sort();
        let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|(k, _)| f(k)).map(|(_, v)| v).sum::<usize>();
        let success = count(&|k| *k == Outcome::Success);
        let busy = count(&|k| matches!(k, Outcome::Busy(_)));
        let busy_retry = count(&|k| *k == Outcome::Busy(true));
        let throttled = count(&|k| *k == Outcome::Throttled);
        let other = count(&|k| matches!(k, Outcome::Other(_)));
        println!(
            "| {concurrency} | {:.1} | {success} | {:.1} | {busy} ({busy_retry}) | {throttled} | {other} | {} | {} |",
            elapsed.as_secs_f64(),
            success as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
        );
        for (outcome, n) in &outcomes {
            if let Outcome::Other(what) = outcome {
                eprintln!("  {n} x {what}");
            }
        }
        flooded.push((concurrency, under_load));
    }

    println!("\n### Probe latency, one request at a time, quiet and during the sign-in load\n");
    println!("| path | while | requests | p50 | p99 | max | not 200 |");
    println!("|---|---|---|---|---|---|---|");
    for (i, path) in paths.iter().enumerate() {
        println!("{}", quiet[i].row(path, "quiet"));
        for (concurrency, results) in &mut flooded {
            println!("{}", results[i].row(path, &format!("{concurrency} concurrent sign-ins")));
        }
    }
    Ok(())
}
