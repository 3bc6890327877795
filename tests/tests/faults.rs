//! Faults, against the real binary: SQLite killed with SIGKILL in the middle of writes, PostgreSQL
//! stopped and started under a running server, and SIGTERM with requests in flight.
//!
//! The PostgreSQL test owns a throw-away cluster (`initdb` / `pg_ctl` in a temporary directory on a
//! free port), so stopping it never disturbs the shared server other tests use. Without the
//! PostgreSQL server binaries or the `sqlite3` shell the affected test is skipped with a loud
//! message, and fails when CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_tests::{Db, Server, latchkey_command, run_cli};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (loudly) outside CI, fails in CI: a missing tool must never silently pass CI.
#[allow(clippy::panic)]
fn unavailable(what: &str) {
    assert!(!in_ci(), "{what} is required in CI");
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPING: {what} is not available on this machine\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

fn http() -> reqwest::Client {
    // Every request bounded: a hang is a failure, not a stuck test.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

async fn status(url: &str) -> u16 {
    http().get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}")).status().as_u16()
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

fn alive(pid: u32) -> bool {
    Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A small xorshift generator seeded from the clock; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Self {
        let seed = std::env::var("LATCHKEY_TEST_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
        eprintln!("fault seed: LATCHKEY_TEST_FAULT_SEED={seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn roles(data_dir: &Path, db: &Db) -> String {
    let out = run_cli(data_dir, db, &["roles", "list"], "").unwrap();
    assert!(out.status.success(), "roles list: {}", out.stderr);
    out.stdout
}

// ---------------------------------------------------------------------------------------------
// SQLite: kill -9 mid-write
// ---------------------------------------------------------------------------------------------

/// Writers run `latchkey roles add` in a loop (each a separate process: open, migrate check,
/// insert, commit) while the server holds the same database open; at a random moment every
/// in-flight writer and the server get SIGKILL. Three rounds on the same file. Then the server
/// restarts on it, `PRAGMA integrity_check` says ok, and every write that was acknowledged (the
/// CLI exited 0) is there. WAL with synchronous=NORMAL is durable across a process crash (only a
/// power loss can lose the last transactions), which is exactly what this checks.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_kill_9_during_writes() {
    let Some(sqlite3) = which("sqlite3") else {
        return unavailable("the sqlite3 shell (apt-get install sqlite3)");
    };
    let started = Instant::now();
    let mut rng = Rng::from_env_or_clock();
    let mut dir = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut killed_in_flight = 0;

    for round in 0..3 {
        let server = Server::start_in(dir, Db::Sqlite, &[]).unwrap();
        assert_eq!(status(&server.url("/readyz")).await, 200);
        let data_dir = server.data_dir().to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight: Arc<Mutex<Vec<u32>>> = Arc::default();
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (stop, in_flight, acked, data_dir) =
                    (Arc::clone(&stop), Arc::clone(&in_flight), Arc::clone(&acked), data_dir.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) && i < 500 {
                        let name = format!("r{round}-w{w}-{i}");
                        let mut cmd = latchkey_command(&data_dir, &Db::Sqlite);
                        cmd.args(["roles", "add", &name, "--description", "written before a crash"]);
                        let child =
                            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
                        let pid = child.id();
                        in_flight.lock().unwrap().push(pid);
                        let ok = child.wait_with_output().unwrap().status.success();
                        in_flight.lock().unwrap().retain(|p| *p != pid);
                        if ok {
                            acked.lock().unwrap().push(name);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        // Somewhere between 0.5 s and 2.5 s into the loop: mid-write for some writer, most likely.
        tokio::time::sleep(Duration::from_millis(500 + rng.below(2000))).await;
        stop.store(true, Ordering::SeqCst);
        {
            let pids = in_flight.lock().unwrap();
            killed_in_flight += pids.len();
            for pid in pids.iter() {
                kill9(*pid);
            }
        }
        kill9(server.pid());
        for w in writers {
            w.join().unwrap();
        }
        dir = server.into_data_dir();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 6, "the loop wrote too little to mean anything: {}", acked.len());
    let server = Server::start_in(dir, Db::Sqlite, &[]).unwrap();
    assert_eq!(status(&server.url("/readyz")).await, 200, "restarts ready on the crashed file");
    let db_file = server.data_dir().join("data/latchkey.db");
    let pragma = |sql: &str| {
        let out = Command::new(&sqlite3).arg(&db_file).arg(sql).output().unwrap();
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(pragma("PRAGMA integrity_check;"), "ok");
    assert_eq!(pragma("PRAGMA journal_mode;"), "wal");
    assert_eq!(pragma("PRAGMA foreign_key_check;"), "");
    let listed = roles(server.data_dir(), &Db::Sqlite);
    let missing: Vec<_> = acked
        .iter()
        .filter(|name| !listed.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())))
        .collect();
    assert!(missing.is_empty(), "acknowledged writes lost after kill -9: {missing:?}");
    // The database still takes writes.
    let out = run_cli(server.data_dir(), &Db::Sqlite, &["roles", "add", "after-the-crashes"], "").unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    server.stop().unwrap();
    eprintln!(
        "sqlite kill -9: {} acknowledged writes over 3 rounds, {killed_in_flight} writers killed in flight, all present; {:.1}s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL stopped while serving
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL cluster of our own in a temporary directory, run as the `postgres` OS user when
/// we are root (initdb refuses to run as root), with trust authentication on 127.0.0.1.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn create() -> Option<Self> {
        let bin = newest_postgres_bin()?;
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(ok.success(), "chown to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { bin, dir, port, as_postgres };
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).current_dir(self.dir.path()).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "-t", "30", "start"]);
    }

    /// A fast shutdown: what an operator's `systemctl stop postgresql` does. Open connections are
    /// terminated; acknowledged transactions are on disk.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

/// `/usr/lib/postgresql/<version>/bin` with the highest version that has initdb and pg_ctl.
fn newest_postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Polls `url` until it answers `want`, at most `limit`; returns how long it took.
async fn wait_for_status(url: &str, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = http().get(url).send().await.map(|r| r.status().as_u16());
        if got.as_ref().ok() == Some(&want) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{url} did not answer {want} within {limit:?} (last: {got:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_while_serving_turns_unready_and_recovers_without_restart() {
    let Some(cluster) = Cluster::create() else {
        return unavailable("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl)");
    };
    cluster.start();
    let db = Db::Url(cluster.url());
    let server = Server::start(db.clone(), &[]).unwrap();
    let readyz = server.url("/readyz");
    assert_eq!(status(&readyz).await, 200);
    let out = run_cli(server.data_dir(), &db, &["roles", "add", "before-outage"], "").unwrap();
    assert!(out.status.success(), "{}", out.stderr);

    // Stop PostgreSQL under the running server.
    cluster.stop();
    let to_unready = wait_for_status(&readyz, 503, Duration::from_secs(2)).await;
    // Several probes at once: each answers within the 1 s ping timeout, none hangs.
    let probes: Vec<_> = (0..8)
        .map(|_| {
            let url = readyz.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let res = http().get(&url).send().await.unwrap();
                (res.status().as_u16(), res.text().await.unwrap(), t.elapsed())
            })
        })
        .collect();
    for p in probes {
        let (code, body, took) = p.await.unwrap();
        assert_eq!(code, 503);
        // A clear 503 (the error-page layer may render it as HTML), never the cause's internals.
        for internal in ["sqlx", "Connection refused", "postgres", "panicked"] {
            assert!(!body.contains(internal), "leaks {internal:?}: {body}");
        }
        assert!(took < Duration::from_millis(1800), "answered in {took:?}");
    }
    // Liveness and what is served from memory do not depend on the database.
    assert_eq!(status(&server.url("/healthz")).await, 200, "alive: no restart wanted");
    assert_eq!(status(&server.url("/metrics")).await, 200);
    let routes =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/server/src/http/paths.rs"))
            .unwrap();
    for (constant, path) in [("DISCOVERY", "/.well-known/openid-configuration"), ("JWKS", "/jwks")] {
        // Discovery and JWKS answer from memory once they exist (issue 4 adds them).
        if routes.contains(&format!("pub const {constant}:")) {
            let url = server.url(path);
            let res = http().get(&url).send().await;
            if let Ok(res) = res
                && res.status() != 404
            {
                assert_eq!(res.status(), 200, "{path} during the outage");
            }
        }
    }
    // A write during the outage fails clearly and in bounded time, and is not acknowledged.
    let t = Instant::now();
    let out = run_cli(server.data_dir(), &db, &["roles", "add", "during-outage"], "").unwrap();
    let cli_failure = t.elapsed();
    assert!(!out.status.success());
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {:?}", out.stderr);
    assert!(out.stderr.contains("cannot open the database"), "{:?}", out.stderr);
    assert!(out.stderr.contains("database unavailable"), "{:?}", out.stderr);
    assert!(cli_failure < Duration::from_secs(15), "{cli_failure:?}");

    // PostgreSQL comes back: the same process serves again.
    let pid = server.pid();
    cluster.start();
    let to_ready = wait_for_status(&readyz, 200, Duration::from_secs(10)).await;
    assert!(alive(pid), "same process");
    let listed = roles(server.data_dir(), &db);
    assert!(listed.contains("before-outage"), "acknowledged write kept: {listed}");
    assert!(!listed.contains("during-outage"));
    let out = run_cli(server.data_dir(), &db, &["roles", "add", "after-outage"], "").unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!server.log().contains("panicked"), "{}", server.log());
    server.stop().unwrap();
    eprintln!(
        "postgres outage: /readyz 503 after {:.0} ms; CLI write failed in {:.1} s; /readyz 200 again {:.0} ms after restart",
        to_unready.as_secs_f64() * 1000.0,
        cli_failure.as_secs_f64(),
        to_ready.as_secs_f64() * 1000.0
    );
}

// ---------------------------------------------------------------------------------------------
// SIGTERM with requests in flight
// ---------------------------------------------------------------------------------------------

/// A connection with a request whose header block is not finished yet: accepted by the server
/// and being read, i.e. in flight, at a moment the test controls.
struct PendingRequest {
    stream: TcpStream,
    path: &'static str,
}

impl PendingRequest {
    fn open(addr: SocketAddr, path: &'static str) -> Self {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: faults\r\n").unwrap();
        Self { stream, path }
    }

    /// Ends the header block and reads the whole response; an error here would be a reset.
    fn finish(mut self) -> String {
        self.stream.write_all(b"\r\n").unwrap();
        let mut response = Vec::new();
        self.stream
            .read_to_end(&mut response)
            .unwrap_or_else(|e| panic!("{}: response cut short ({e}) after {} bytes", self.path, response.len()));
        String::from_utf8_lossy(&response).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_completes_in_flight_requests_refuses_new_ones_and_exits_within_grace() {
    const GRACE: Duration = Duration::from_secs(3);
    let mut server = Server::start(Db::Sqlite, &[("LATCHKEY_HTTP__SHUTDOWN_GRACE", "3s")]).unwrap();
    let addr: SocketAddr = server.base_url.trim_start_matches("http://").parse().unwrap();
    // Load before the signal: concurrent probes and metrics all succeed.
    let load: Vec<_> = (0..32)
        .map(|i| {
            let url = server.url(if i % 2 == 0 { "/readyz" } else { "/metrics" });
            tokio::spawn(async move { http().get(&url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for l in load {
        assert_eq!(l.await.unwrap().unwrap(), 200);
    }

    let in_flight: Vec<PendingRequest> =
        (0..16).map(|i| PendingRequest::open(addr, if i % 2 == 0 { "/readyz" } else { "/metrics" })).collect();
    // One client that never finishes its request: the grace period must bound the wait for it.
    let stalled = PendingRequest::open(addr, "/readyz");
    // Accepting is immediate on an idle server; this only makes sure it happened before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.terminate().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !server.log().contains("shutdown signal received") {
        assert!(Instant::now() < deadline, "no shutdown log line:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The listener is closed: new connections are refused at once (not accepted and then dropped).
    for _ in 0..5 {
        let err =
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect_err("a new connection after SIGTERM");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }
    assert!(alive(server.pid()), "still finishing the requests in flight");

    // Every request in flight at the signal completes with a whole response.
    for pending in in_flight {
        let path = pending.path;
        let response = pending.finish();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {response}");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        match path {
            "/readyz" => assert_eq!(body, "ready\n"),
            _ => assert!(body.contains("latchkey_http_requests_total"), "{path}: whole body: {body}"),
        }
    }
    let completed = signalled.elapsed();

    let status = server.wait_exit(GRACE + Duration::from_secs(3)).unwrap();
    let exited = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}\n{}", server.log());
    assert!(exited < GRACE + Duration::from_secs(2), "exit {exited:?} after SIGTERM, grace {GRACE:?}");
    assert!(server.log().contains("latchkey stopped"), "{}", server.log());
    drop(stalled);
    eprintln!(
        "sigterm: 16 in-flight requests completed {:.0} ms after the signal; exit after {:.2} s (grace {}s, one stalled client)",
        completed.as_secs_f64() * 1000.0,
        exited.as_secs_f64(),
        GRACE.as_secs()
    );
}
