//! Support for the end-to-end tests: start the real `latchkey` binary on a free port with a fresh
//! database, talk to it over loopback, and stop it with a real signal.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executables.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use latchkey_store::testing::TempPostgres;

pub mod browser;
pub mod http;
pub mod rp;

/// A password that meets the policy (length, not common, no username, strong enough): every
/// account the tests create has it unless a test says otherwise.
pub const PASSWORD: &str = "violet-tractor-sunrise-917";

/// Path of a workspace binary built by cargo (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test-exe> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run the tests with `cargo test --workspace`", path.display());
    path
}

/// Which database a test server uses.
#[derive(Debug, Clone)]
pub enum Db {
    /// The embedded default: SQLite in the server's own data directory.
    Sqlite,
    Url(String),
}

/// A running `latchkey serve`.
pub struct Server {
    child: Child,
    pub base_url: String,
    data_dir: Option<tempfile::TempDir>,
    log: Arc<Mutex<String>>,
    pub db: Db,
}

impl Server {
    /// Starts the server with a fresh data directory; waits until it logs where it listens.
    pub fn start(db: Db, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        Self::start_in(data_dir, db, extra_env)
    }

    /// Starts the server on an existing data directory (a restart).
    pub fn start_in(data_dir: tempfile::TempDir, db: Db, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_listening(data_dir, db, "127.0.0.1:0", extra_env)
    }

    /// Starts on a fixed address: for tests where a browser follows the issuer's URLs, which must
    /// then be known (and configured as `LATCHKEY_ISSUER`) before the server starts.
    pub fn start_listening(
        data_dir: tempfile::TempDir,
        db: Db,
        listen: &str,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut cmd = latchkey_command(data_dir.path(), &db);
        cmd.args(["serve", "--listen", listen]);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (log, lines) = capture_lines(stderr);
        let listening = wait_for_line(&lines, Duration::from_secs(60), |l| l.contains("listening on "));
        let url = listening.and_then(|l| {
            l.split("listening on ").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned)
        });
        let base_url = match url {
            Some(url) => url,
            None => {
                let _ = child.kill();
                let log = log.lock().map(|l| l.clone()).unwrap_or_default();
                anyhow::bail!("latchkey did not start listening:\n{log}");
            }
        };
        Ok(Self { child, base_url, data_dir: Some(data_dir), log, db })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill failed");
        Ok(())
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                anyhow::bail!("latchkey did not exit within {timeout:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM, then wait) and hands back its data directory.
    pub fn stop(self) -> anyhow::Result<tempfile::TempDir> {
        self.terminate()?;
        let mut this = self;
        this.wait_exit(Duration::from_secs(30))?;
        Ok(this.into_data_dir())
    }

    /// Hands back the data directory (killing the process if it still runs).
    pub fn into_data_dir(mut self) -> tempfile::TempDir {
        match self.data_dir.take() {
            Some(dir) => dir,
            None => unreachable!("the data directory is taken only here, by value"),
        }
    }

    /// The server's working directory; its data is in `data/` below it.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_ref().map_or(Path::new("."), |d| d.path())
    }

    /// Runs `latchkey <args>` on this server's data directory and database; fails the test on a
    /// non-zero exit and returns its stdout.
    pub fn cli(&self, args: &[&str], stdin: &str) -> String {
        let out = run_cli(self.data_dir(), &self.db, args, stdin).unwrap_or_else(|e| panic!("latchkey {args:?}: {e}"));
        assert!(out.status.success(), "latchkey {args:?}:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stream` line by line on a thread of its own: each line is appended to the returned log,
/// then sent on the returned channel (so whoever waits for a line can read it in the log too).
pub fn capture_lines(stream: impl std::io::Read + Send + 'static) -> (Arc<Mutex<String>>, mpsc::Receiver<String>) {
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut log) = sink.lock() {
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    (log, rx)
}

/// The first line from [`capture_lines`] that matches, within `timeout`; `None` when the stream
/// ends or time runs out first.
pub fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    timeout: Duration,
    matches: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match lines.recv_timeout(left) {
            Ok(line) if matches(&line) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// A `latchkey` command that runs in `data_dir` with no configuration file, on `db`.
pub fn latchkey_command(data_dir: &Path, db: &Db) -> Command {
    let mut cmd = Command::new(binary("latchkey"));
    cmd.current_dir(data_dir)
        .env_remove("RUST_LOG")
        .env("LATCHKEY_DATA_DIR", data_dir.join("data"))
        .env("LATCHKEY_LOG__LEVEL", "info")
        // Cheap hashing keeps tests fast; the OWASP default is pinned by unit tests.
        .env("LATCHKEY_PASSWORDS__ARGON2_MEMORY_KIB", "1024")
        .env("LATCHKEY_PASSWORDS__ARGON2_ITERATIONS", "1");
    if let Db::Url(url) = db {
        cmd.env("LATCHKEY_DATABASE__URL", url);
    }
    cmd
}

/// Output of one CLI run.
#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `latchkey <args>` to completion, feeding `stdin`.
pub fn run_cli(data_dir: &Path, db: &Db, args: &[&str], stdin: &str) -> anyhow::Result<CliOutput> {
    let mut cmd = latchkey_command(data_dir, db);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(CliOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The client secret `latchkey clients add` prints once.
pub fn printed_secret(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .unwrap_or_else(|| panic!("the secret is printed once: {stdout}"))
        .trim()
        .to_owned()
}

/// Adds the account `name` (email `name@example.com`, password [`PASSWORD`]) through the CLI, with
/// the admin role if `admin`.
pub fn add_user(server: &Server, name: &str, admin: bool) {
    let email = format!("{name}@example.com");
    let mut args = vec!["users", "add", name, "--email", &email];
    if admin {
        args.extend(["--role", "admin"]);
    }
    server.cli(&args, &format!("{PASSWORD}\n"));
}

/// Registers the confidential client `id` through the CLI (`clients add id <args>`); returns its secret.
pub fn add_client(server: &Server, id: &str, args: &[&str]) -> String {
    let mut all = vec!["clients", "add", id];
    all.extend(args);
    printed_secret(&server.cli(&all, ""))
}

/// A loopback port nobody listens on right now (for a server whose issuer must be known up front).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("binding a free port: {e}"));
    listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("reading the bound port: {e}"))
}

/// Decodes unpadded base64url (a JWT segment), independently of the server's base64 crate.
pub fn base64url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap_or_else(|| panic!("{c:?} is not base64url in {s}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Declares each scenario (`async fn name(server: &Server)` in the calling file) as two tests,
/// `sqlite::name` and `postgres::name`, each on a fresh server; `name with ("KEY", "value")` starts
/// that scenario's servers with that environment. The PostgreSQL test gets a fresh database and
/// drops it afterwards (skipped loudly without a server, failing in CI: [`TempPostgres::create`]).
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident $(with $env:expr)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let env: &[(&str, &str)] = &[$($env)?];
                    let server = $crate::Server::start($crate::Db::Sqlite, env).unwrap();
                    super::$scenario(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(pg) = $crate::TempPostgres::create().await else { return };
                    let env: &[(&str, &str)] = &[$($env)?];
                    let server = $crate::Server::start($crate::Db::Url(pg.url.clone()), env).unwrap();
                    super::$scenario(&server).await;
                    drop(server);
                    pg.drop_db().await;
                }
            )*
        }
    };
}
