//! Open-loop load generator for `bench/run.sh`: sends one request every 1/`rate` seconds, whether
//! or not the earlier ones have been answered, and measures each latency from the moment the
//! request was due, not from when it went out.
//!
//! Why beside wrk: wrk keeps a fixed number of connections busy (closed loop), so its latency is
//! the queueing delay of that concurrency at whatever rate the server reaches (Little's law: 64
//! connections at 6,000/s is about 10.7 ms mean). A target such as "4,500/s with p99 under 15 ms"
//! is a latency at a given rate; this measures exactly that. Measuring from the due time keeps a
//! stalled server from hiding its stall (coordinated omission): requests due while it stalls count
//! the whole wait.
//!
//! Prints one JSON object on stdout: rate, seconds, sent, ok, per_second (answered with 2xx per
//! second of the run), p50_ms, p99_ms, max_ms, errors and errors by kind. Loopback URLs only; every
//! run is bounded (`--seconds` at most 600, `--rate` at most 100,000/s, `--connections` at most
//! 1,024 in flight) and every request by a 10 s timeout.
//!
//! Usage: `rate_load --url URL --rate 4500 [--seconds 10] [--connections 256]
//! [--header "Name: value"]... [--form "a=b&c=d"] [--timeline FILE]` (`--form` makes it a form
//! POST). `--timeline` also writes one CSV row per request, `due_ms,latency_ms` (latency empty
//! for a failed request), in the order they were due: it tells a steady queue (every latency
//! high) from a stall (a run of requests due together that all waited for the same thing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[path = "load_common.rs"]
mod common;

use common::{Args, percentile};

struct Options {
    url: String,
    rate: u32,
    seconds: u64,
    connections: usize,
    headers: reqwest::header::HeaderMap,
    form: Option<String>,
    timeline: Option<std::path::PathBuf>,
}

fn options(mut args: Args) -> anyhow::Result<Options> {
    let mut o = Options {
        url: String::new(),
        rate: 0,
        seconds: 10,
        connections: 256,
        headers: reqwest::header::HeaderMap::new(),
        form: None,
        timeline: None,
    };
    while let Some(arg) = args.next_flag() {
        match arg.as_str() {
            "--url" => o.url = args.value(&arg)?,
            "--rate" => o.rate = args.parse(&arg)?,
            "--seconds" => o.seconds = args.parse(&arg)?,
            "--connections" => o.connections = args.parse(&arg)?,
            "--header" => {
                let raw = args.value(&arg)?;
                let (name, value) =
                    raw.split_once(':').with_context(|| format!("--header {raw:?}: need Name: value"))?;
                o.headers.insert(
                    reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).context("--header: bad name")?,
                    reqwest::header::HeaderValue::from_str(value.trim()).context("--header: bad value")?,
                );
            }
            "--form" => o.form = Some(args.value(&arg)?),
            "--timeline" => o.timeline = Some(args.value(&arg)?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    let parsed = reqwest::Url::parse(&o.url).with_context(|| format!("--url: not a URL: {:?}", o.url))?;
    // The loopback rule is the shared one; it wants the bare base URL.
    common::loopback_base_url(&format!("{}://{}/", parsed.scheme(), parsed.authority()))?;
    anyhow::ensure!((1..=100_000).contains(&o.rate), "--rate: 1 to 100000 requests per second");
    anyhow::ensure!((1..=600).contains(&o.seconds), "--seconds: 1 to 600");
    anyhow::ensure!((1..=1024).contains(&o.connections), "--connections: 1 to 1024");
    Ok(o)
}

/// When the `i`th request is due, `rate` requests per second after `start`.
fn due(start: Instant, i: u64, rate: u32) -> Instant {
    start + Duration::from_nanos(i * 1_000_000_000 / u64::from(rate))
}

/// One request: its latency from `due`, or what went wrong, short enough to count by kind.
async fn one(client: &reqwest::Client, o: &Options, due: Instant) -> Result<Duration, String> {
    let request = match &o.form {
        Some(body) => client
            .post(&o.url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.clone()),
        None => client.get(&o.url),
    };
    let res = request
        .headers(o.headers.clone())
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timeout".to_owned() } else { "transport".to_owned() })?;
    let status = res.status();
    // The whole body, so the latency is that of the complete answer.
    res.bytes().await.map_err(|_| "body".to_owned())?;
    if status.is_success() { Ok(due.elapsed()) } else { Err(format!("status {}", status.as_u16())) }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = Arc::new(options(Args::from_env())?);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(o.connections)
        .tcp_nodelay(true)
        .build()?;
    // Untimed warm-up: opens connections so the first second does not measure TCP handshakes.
    let warm: Vec<_> = (0..o.connections.min(64))
        .map(|_| {
            let (client, o) = (client.clone(), o.clone());
            tokio::spawn(async move { one(&client, &o, Instant::now()).await })
        })
        .collect();
    for w in warm {
        w.await?.map_err(|e| anyhow::anyhow!("warm-up request failed: {e}"))?;
    }

    // At most `connections` requests in flight; one that has to wait for a slot still counts its
    // latency from when it was due.
    let slots = Arc::new(Semaphore::new(o.connections));
    let total = u64::from(o.rate) * o.seconds;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let at = due(start, i, o.rate);
        tokio::time::sleep_until(at).await;
        let (client, o, slots) = (client.clone(), o.clone(), slots.clone());
        tasks.spawn(async move {
            let result = match slots.acquire_owned().await {
                // The permit is held until the answer is in.
                Ok(_slot) => one(&client, &o, at).await,
                Err(_) => Err("closed".to_owned()),
            };
            (i, result)
        });
    }
    // Each request's index and latency (`None`: failed), for the percentiles and the timeline.
    let mut rows: Vec<(u64, Option<Duration>)> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, result)) => {
                if let Err(kind) = &result {
                    *kinds.entry(kind.clone()).or_default() += 1;
                }
                rows.push((i, result.ok()));
            }
            Err(e) => *kinds.entry(format!("task: {e}")).or_default() += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = rows.iter().filter_map(|r| r.1).collect();
    latencies.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
    if let Some(path) = &o.timeline {
        rows.sort_unstable_by_key(|r| r.0);
        let mut csv = String::from("due_ms,latency_ms\n");
        for (i, latency) in rows {
            let due_ms = ms(due(start, i, o.rate) - start);
            let latency = latency.map(|l| ms(l).to_string()).unwrap_or_default();
            csv.push_str(&format!("{due_ms},{latency}\n"));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let errors: usize = kinds.values().sum();
    let report = serde_json::json!({
        "rate": o.rate,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "sent": total,
        "ok": latencies.len(),
        "per_second": (latencies.len() as f64 / elapsed * 10.0).round() / 10.0,
        "p50_ms": ms(percentile(&latencies, 0.50)),
        "p99_ms": ms(percentile(&latencies, 0.99)),
        "max_ms": ms(latencies.last().copied().unwrap_or_default()),
        "errors": errors,
        "error_kinds": kinds,
    });
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_evenly_from_the_start() {
        let start = Instant::now();
        assert_eq!(due(start, 0, 4500), start);
        assert_eq!(due(start, 4500, 4500), start + Duration::from_secs(1));
        assert_eq!(due(start, 3, 1000), start + Duration::from_millis(3));
        // No drift from rounding: the 10-millionth request is due exactly at its second.
        assert_eq!(due(start, 10_000_000, 3), start + Duration::from_nanos(10_000_000 * 1_000_000_000 / 3));
    }

    #[test]
    fn only_loopback_and_bounded_runs() {
        let base = |extra: &[&str]| {
            let mut a = vec!["--url", "http://127.0.0.1:8080/token", "--rate", "4500"];
            a.extend_from_slice(extra);
            options(Args::from(&a))
        };
        let o = base(&["--header", "Authorization: Basic eDp5", "--form", "grant_type=client_credentials"]).unwrap();
        assert_eq!(o.headers["authorization"], "Basic eDp5");
        assert_eq!(o.form.as_deref(), Some("grant_type=client_credentials"));
        assert!(options(Args::from(&["--url", "http://example.com/token", "--rate", "10"])).is_err());
        assert!(options(Args::from(&["--url", "http://127.0.0.1:8080/token"])).is_err(), "a rate is required");
        assert!(base(&["--seconds", "601"]).is_err());
        assert!(base(&["--connections", "0"]).is_err());
        assert!(base(&["--header", "no colon"]).is_err());
    }
}
