//! `latchkey demo`: the provider and the demo relying party from one command, with the
//! repository's own `config/latchkey.toml` (only its two ports changed, so the test does not depend
//! on 8080 and 8081 being free). A person signs in with the account the command seeded and printed,
//! through the real pages of both programs, and Ctrl-C (SIGINT to the process group, as a terminal
//! sends it) stops both. A second start on the same data seeds nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_tests::http::{Browser, Page};
use latchkey_tests::{Db, capture_lines, free_port, latchkey_command, run_cli, wait_for_line};
use reqwest::StatusCode;

/// The repository's provider configuration with the demo's ports replaced.
fn repository_config(provider_port: u16, rp_port: u16) -> String {
    let committed = include_str!("../../config/latchkey.toml");
    assert!(committed.contains("http://127.0.0.1:8081/callback"), "the committed file registers the demo");
    committed
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{rp_port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{provider_port}"))
}

/// A running `latchkey demo`, leader of its own process group (like a shell job).
struct Demo {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    fn start(dir: &std::path::Path, provider_port: u16) -> Self {
        let mut cmd = latchkey_command(dir, &Db::Sqlite);
        let issuer = format!("http://127.0.0.1:{provider_port}");
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("LATCHKEY_DEMO_RP__")) {
            cmd.env_remove(name);
        }
        cmd.arg("demo")
            .env("LATCHKEY_ISSUER", &issuer)
            .env("LATCHKEY_LISTEN", format!("127.0.0.1:{provider_port}"))
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (stdout, lines) = capture_lines(child.stdout.take().unwrap());
        let (stderr, _) = capture_lines(child.stderr.take().unwrap());
        let banner = wait_for_line(&lines, Duration::from_secs(60), |l| l.contains("Ctrl-C stops both"));
        let demo = Self { child, stdout, stderr };
        assert!(banner.is_some(), "no banner:\n{}", demo.output());
        demo
    }

    fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout.lock().unwrap(), self.stderr.lock().unwrap())
    }

    /// The value printed after `label` in the banner (`  account:   demo / <password>`).
    fn banner(&self, label: &str) -> Option<String> {
        let out = self.stdout.lock().unwrap();
        out.lines().find_map(|l| l.trim_start().strip_prefix(label).map(|v| v.trim().to_owned()))
    }

    /// Ctrl-C: SIGINT to the whole process group; both programs must end by themselves, cleanly.
    fn interrupt_and_wait(mut self) -> String {
        let group = format!("-{}", self.child.id());
        assert!(Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "latchkey demo did not stop on Ctrl-C:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}\n{}", self.output());
        self.output()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
            let _ = self.child.wait();
        }
    }
}

/// Polls `url` until it answers (the demo app starts beside the provider, not before the banner).
async fn wait_until_up(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(url).await.is_err() {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn location(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page.location().unwrap().to_owned()
}

#[tokio::test]
async fn latchkey_demo_seeds_an_account_and_runs_both_apps_with_the_repositorys_configuration() {
    let (provider_port, rp_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/latchkey.toml"), repository_config(provider_port, rp_port)).unwrap();

    let demo = Demo::start(dir.path(), provider_port);
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let rp_url = format!("http://127.0.0.1:{rp_port}");
    let account =
        demo.banner("account:").unwrap_or_else(|| panic!("the seeded account is printed:\n{}", demo.output()));
    let (username, password) = account.split_once(" / ").unwrap();
    assert_eq!(username, "demo");
    assert_eq!(password.len(), 24 + 3, "24 random characters in four groups: {password}");
    assert!(demo.banner("demo app:").unwrap().starts_with(&format!("{rp_url}/")), "{}", demo.output());
    assert!(demo.banner("provider:").unwrap().starts_with(&issuer), "{}", demo.output());
    wait_until_up(&format!("{issuer}/readyz")).await;
    wait_until_up(&format!("{rp_url}/")).await;

    // An administrator gives the seeded account a role while both run; the demo shows it.
    let cli = |args: &[&str]| {
        let out = run_cli(dir.path(), &Db::Sqlite, args, "").unwrap();
        assert!(out.status.success(), "{args:?}: {}", out.stderr);
    };
    cli(&["roles", "add", "editor"]);
    cli(&["users", "grant-role", "demo", "editor"]);

    // The demo's start page, its button, the provider's sign-in page with the printed password,
    // consent (the demo is a third-party client), and back to the protected page.
    let rp = Browser::at(&rp_url);
    let idp = Browser::at(&issuer);
    let start = rp.get("/").await;
    assert_eq!(start.status, StatusCode::OK);
    assert!(start.body.contains("Sign in with Latchkey"), "{}", start.body);
    let to_provider =
        location(&rp.post("/login", &[("csrf_token", &start.csrf_token()), ("return_to", "/protected")]).await);
    assert!(to_provider.starts_with(&format!("{issuer}/authorize?")), "{to_provider}");
    let to_login = location(&idp.get(&to_provider).await);
    let login = idp.get(&to_login).await;
    assert!(login.body.contains("Sign in"), "{}", login.body);
    let signed_in = idp
        .post(
            "/login",
            &[
                ("csrf_token", &login.csrf_token()),
                ("return_to", &login.field("return_to")),
                ("login", username),
                ("password", password),
            ],
        )
        .await;
    let consent = idp.get(&location(&signed_in)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Latchkey demo"), "the consent page names the app: {}", consent.body);
    let callback = location(&idp.consent(&consent, "allow").await);
    assert!(callback.starts_with(&format!("{rp_url}/callback?")), "{callback}");
    assert_eq!(location(&rp.get(&callback).await), "/protected");
    let protected = rp.get("/protected").await;
    assert_eq!(protected.status, StatusCode::OK, "{}", protected.body);
    // The `iss` claim, as tera escapes it in the page.
    let iss = issuer.replace('/', "&#x2F;");
    for shown in ["Demo User", "demo@example.com", "editor", &iss] {
        assert!(protected.body.contains(shown), "{shown} on the protected page:\n{}", protected.body);
    }

    // Ctrl-C stops both programs: neither port answers afterwards.
    let output = demo.interrupt_and_wait();
    assert!(output.contains("latchkey stopped"), "{output}");
    for url in [format!("{issuer}/healthz"), format!("{rp_url}/")] {
        assert!(reqwest::get(&url).await.is_err(), "{url} still answers after Ctrl-C");
    }

    // Again on the same data: the account exists, nothing is seeded and no password is printed.
    let again = Demo::start(dir.path(), provider_port);
    assert!(again.banner("account:").is_none(), "{}", again.output());
    assert!(again.output().contains("the database has accounts already"), "{}", again.output());
    wait_until_up(&format!("{issuer}/readyz")).await;
    wait_until_up(&format!("{rp_url}/")).await;
    let users = run_cli(dir.path(), &Db::Sqlite, &["users", "list"], "").unwrap();
    assert_eq!(users.stdout.lines().filter(|l| l.contains("demo")).count(), 1, "{}", users.stdout);
    again.interrupt_and_wait();
}

#[tokio::test]
async fn latchkey_demo_without_the_demo_client_says_how_to_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = latchkey_command(dir.path(), &Db::Sqlite)
        .args(["demo", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env_remove("LATCHKEY_DEMO_RP__ISSUER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("registers no `demo-rp` client") && stderr.contains("repository root"), "{stderr}");
}
