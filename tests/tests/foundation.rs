//! The foundation, end to end: the real binary on SQLite and PostgreSQL, its probes, metrics,
//! headers, error pages, graceful shutdown, restart, and the administration CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use latchkey_tests::{Db, Server, TempPostgres, run_cli};

const PASSWORD: &str = "violet-tractor-sunrise-917";

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn probes_metrics_and_headers(server: &Server) {
    let http = client();
    let res = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(headers.get("strict-transport-security").is_none(), "no HSTS on an http issuer");
    assert!(headers.contains_key("x-request-id"));

    let res = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("latchkey_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"), "{text}");
    assert!(text.contains("latchkey_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("latchkey_db_pool_connections"), "{text}");

    // Unknown page: the HTML error page with the request id, no internals.
    let res = http.get(server.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let body = res.text().await.unwrap();
    assert!(body.contains("Page not found") && body.contains(&id), "{body}");

    // Counted per route template (never the raw path, which would grow without bound), the 404 too;
    // the pool gauges carry the backend and real values.
    http.get(server.url("/no/such/page")).send().await.unwrap();
    let text = http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains("latchkey_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2"),
        "{text}"
    );
    assert!(!text.contains("/no/such/page"), "{text}");
    assert!(text.contains("latchkey_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"), "{text}");
    assert!(text.contains("latchkey_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"}"), "{text}");
    let gauge = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (open, idle) = (gauge("latchkey_db_pool_connections"), gauge("latchkey_db_pool_idle_connections"));
    assert!(open >= 1.0 && idle <= open, "open {open}, idle {idle}");
}

async fn graceful_stop_and_restart(server: Server) {
    let db = server.db.clone();
    let started = Instant::now();
    server.terminate().unwrap();
    let mut server = server;
    let status = server.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "exit status {status:?}\n{}", server.log());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(server.log().contains("latchkey stopped"), "{}", server.log());
    let dir = server.into_data_dir();
    // A restart on the same data keeps the same keys and comes up ready.
    let before = run_cli(dir.path(), &db, &["keys", "list"], "").unwrap();
    let server = Server::start_in(dir, db.clone(), &[]).unwrap();
    let res = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let after = run_cli(server.data_dir(), &db, &["keys", "list"], "").unwrap();
    assert_eq!(before.stdout, after.stdout, "keys survive a restart unchanged");
}

#[tokio::test]
async fn sqlite_default_serves_probes_and_stops_gracefully() {
    let server = Server::start(Db::Sqlite, &[]).unwrap();
    assert!(server.log().contains("[sqlite]"), "{}", server.log());
    let db_file = server.data_dir().join("data/latchkey.db");
    assert!(db_file.exists(), "SQLite database created under the data directory");
    let kek = server.data_dir().join("data/key-encryption.key");
    assert!(kek.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777, 0o600);
    }
    probes_metrics_and_headers(&server).await;
    graceful_stop_and_restart(server).await;
}

#[tokio::test]
async fn postgres_serves_probes_and_stops_gracefully() {
    let Some(pg) = TempPostgres::create().await else { return };
    let server = Server::start(Db::Url(pg.url.clone()), &[]).unwrap();
    assert!(server.log().contains("[postgres]"), "{}", server.log());
    assert!(!server.data_dir().join("data/latchkey.db").exists());
    probes_metrics_and_headers(&server).await;
    graceful_stop_and_restart(server).await;
    pg.drop_db().await;
}

/// `log.format = "json"`: every line the server writes is one JSON object, and a line written while
/// a request is handled carries that request's id (the one the response names in `X-Request-Id`).
/// Ctrl-C (SIGINT) stops it as gracefully as SIGTERM.
#[tokio::test]
async fn json_logs_carry_the_request_id_and_sigint_stops_gracefully() {
    let mut server = Server::start(Db::Sqlite, &[("LATCHKEY_LOG__FORMAT", "json")]).unwrap();
    // A refused userinfo request logs why (at info), inside its request.
    let res = client().get(server.url("/userinfo")).bearer_auth("wrong.bearer.token").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let found = (0..100).find_map(|_| {
        let log = server.log();
        let line = log.lines().find(|l| l.contains("request refused")).map(str::to_owned);
        if line.is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        line
    });
    let line = found.unwrap_or_else(|| panic!("no refusal logged:\n{}", server.log()));
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["span"]["request_id"], id.as_str(), "{line}");
    assert_eq!(event["level"], "INFO", "{line}");
    assert!(!line.contains("wrong.bearer"), "the token is not logged: {line}");

    let status = std::process::Command::new("kill").args(["-INT", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = server.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(exit.success(), "{exit:?}\n{}", server.log());
    let log = server.log();
    assert!(log.contains("latchkey stopped"), "{log}");
    for line in log.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok_and(|v| v.is_object()), "not a JSON object: {line}");
    }
}

#[tokio::test]
async fn readyz_turns_503_when_the_database_is_gone() {
    let Some(pg) = TempPostgres::create().await else { return };
    let server = Server::start(Db::Url(pg.url.clone()), &[]).unwrap();
    assert_eq!(client().get(server.url("/readyz")).send().await.unwrap().status(), 200);
    pg.drop_db().await; // terminates the server's connections and removes the database
    let started = Instant::now();
    let res = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(3), "answered within the ping timeout");
    assert_eq!(client().get(server.url("/healthz")).send().await.unwrap().status(), 200, "alive all the same");
}

fn cli_scenario(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let ok = |args: &[&str], stdin: &str| {
        let out = run_cli(dir, &db, args, stdin).unwrap();
        assert!(out.status.success(), "{args:?} failed: {}", out.stderr);
        out.stdout
    };
    let fails = |args: &[&str], stdin: &str, message: &str| {
        let out = run_cli(dir, &db, args, stdin).unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stderr.contains(message), "{args:?}: expected {message:?} in {:?}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {:?}", out.stderr);
    };

    ok(&["migrate"], "");
    let out = ok(
        &["users", "add", "Alice", "--email", "alice@example.com", "--role", "admin", "--display-name", "Alice A"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.contains("created user alice"), "{out}");
    fails(&["users", "add", "alice", "--email", "other@example.com"], &format!("{PASSWORD}\n"), "already taken");
    fails(&["users", "add", "bob", "--email", "ALICE@example.com"], &format!("{PASSWORD}\n"), "already taken");
    fails(&["users", "add", "bob", "--email", "not-an-email"], &format!("{PASSWORD}\n"), "email");
    fails(&["users", "add", "b", "--email", "bob@example.com"], &format!("{PASSWORD}\n"), "at least 3");
    fails(
        &["users", "add", "bob", "--email", "bob@example.com", "--role", "wizard"],
        &format!("{PASSWORD}\n"),
        "no role named",
    );
    fails(&["users", "add", "bob", "--email", "bob@example.com"], "password\n", "password");
    fails(&["users", "add", "bob", "--email", "bob@example.com"], "", "standard input");
    let list = ok(&["users", "list"], "");
    assert!(list.contains("alice") && list.contains("admin") && !list.contains("bob"), "{list}");

    ok(&["users", "set-password", "alice"], "another-long-passphrase-here\n");
    fails(&["users", "set-password", "nobody"], "another-long-passphrase-here\n", "no user named");
    ok(&["roles", "add", "editors", "--description", "Can edit"], "");
    ok(&["users", "grant-role", "alice", "editors"], "");
    fails(&["users", "grant-role", "alice", "wizards"], "", "no role named");
    ok(&["users", "revoke-role", "alice", "editors"], "");
    fails(&["users", "revoke-role", "alice", "editors"], "", "does not have");
    assert!(ok(&["users", "disable", "alice"], "").contains("disabled alice"));
    assert!(ok(&["users", "list"], "").contains("disabled"));
    ok(&["users", "enable", "alice"], "");
    fails(&["users", "disable", "nobody"], "", "no user named");

    let out = ok(&["clients", "add", "my-app", "--redirect-uri", "https://app.example.com/cb", "--name", "My App"], "");
    assert!(out.contains("client secret (shown once"), "{out}");
    fails(&["clients", "add", "my-app", "--redirect-uri", "https://app.example.com/cb"], "", "already exists");
    fails(&["clients", "add", "bad", "--redirect-uri", "https://app.example.com/cb#frag"], "", "fragment");
    fails(&["clients", "add", "bad", "--redirect-uri", "not a uri"], "", "absolute");
    fails(&["clients", "add", "bad", "--redirect-uri", "http://app.example.com/cb"], "", "http");
    fails(
        &["clients", "add", "bad", "--redirect-uri", "https://a.example/cb", "--grant", "implicit"],
        "",
        "unknown grant",
    );
    fails(
        &[
            "clients",
            "add",
            "bad",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--grant",
            "client_credentials",
        ],
        "",
        "public client",
    );
    fails(
        &["clients", "add", "bad", "--redirect-uri", "https://a.example/cb", "--secret-stdin"],
        "short\n",
        "at least 32",
    );
    ok(&["clients", "add", "spa", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb"], "");
    ok(
        &["clients", "add", "given", "--redirect-uri", "https://a.example/cb", "--secret-stdin"],
        "0123456789abcdef0123456789abcdef-given\n",
    );
    let list = ok(&["clients", "list"], "");
    assert!(
        list.contains("my-app") && list.contains("spa") && list.contains("public") && !list.contains("bad"),
        "{list}"
    );
    assert!(ok(&["clients", "rotate-secret", "my-app"], "").contains("new client secret"));
    fails(&["clients", "rotate-secret", "spa"], "", "public client");
    ok(&["clients", "remove", "my-app"], "");
    fails(&["clients", "remove", "my-app"], "", "no client");

    // Every refused command changes nothing: users, their roles, clients and roles read the same
    // before and after.
    let roles = ok(&["roles", "list"], "");
    assert!(roles.contains("admin") && roles.contains("editors") && roles.contains("Can edit"), "{roles}");
    let snapshot = || (ok(&["users", "list"], ""), ok(&["clients", "list"], ""), ok(&["roles", "list"], ""));
    let before = snapshot();
    fails(&["users", "enable", "nobody"], "", "no user named");
    fails(&["users", "grant-role", "nobody", "editors"], "", "no user named");
    fails(&["users", "revoke-role", "nobody", "editors"], "", "no user named");
    fails(&["users", "set-password", "alice"], "too-short\n", "at least 15");
    fails(&["users", "set-password", "alice"], "password1234567\n", "common");
    fails(
        &["users", "add", "carol", "--email", "carol@example.com", "--role", "editors", "--role", "wizards"],
        &format!("{PASSWORD}\n"),
        "no role named",
    );
    fails(&["roles", "add", "editors"], "", "already taken");
    fails(&["clients", "rotate-secret", "nobody"], "", "no client");
    fails(&["clients", "add", "spa", "--redirect-uri", "https://a.example/cb"], "", "already exists");
    fails(
        &[
            "clients",
            "add",
            "bad",
            "--redirect-uri",
            "https://a.example/cb",
            "--post-logout-redirect-uri",
            "https://a.example/#x",
        ],
        "",
        "fragment",
    );
    fails(&["clients", "add", "bad", "--redirect-uri", "https://a.example/cb", "--scope", "no\"quotes"], "", "scope");
    assert_eq!(before, snapshot(), "the refused commands changed something");
    // Granting a role twice in one `users add` grants it once.
    ok(
        &["users", "add", "dave", "--email", "dave@example.com", "--role", "editors", "--role", "editors"],
        &format!("{PASSWORD}\n"),
    );
    let list = ok(&["users", "list"], "");
    let dave = list.lines().find(|l| l.contains("dave")).unwrap_or_default();
    assert_eq!(dave.matches("editors").count(), 1, "{list}");

    let keys = ok(&["keys", "list"], "");
    assert_eq!(keys.matches(" active ").count(), 3, "{keys}");
    assert_eq!(keys.matches(" next ").count(), 3, "{keys}");
    let rotated = ok(&["keys", "rotate"], "");
    assert!(rotated.contains("rotated 3 key(s)"), "{rotated}");
    let keys = ok(&["keys", "list"], "");
    assert_eq!(keys.matches(" retired ").count(), 3, "{keys}");
    assert_eq!(keys.matches(" active ").count(), 3, "{keys}");
}

#[test]
fn cli_commands_on_sqlite() {
    cli_scenario(Db::Sqlite);
}

#[tokio::test]
async fn cli_commands_on_postgres() {
    let Some(pg) = TempPostgres::create().await else { return };
    let db = Db::Url(pg.url.clone());
    tokio::task::spawn_blocking(move || cli_scenario(db)).await.unwrap();
    pg.drop_db().await;
}

#[test]
fn invalid_configuration_names_every_bad_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite;
    let mut cmd = latchkey_tests::latchkey_command(dir.path(), &db);
    let out = cmd
        .args(["config", "check"])
        .env("LATCHKEY_ISSUER", "foo")
        .env("LATCHKEY_SESSION__IDLE_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("issuer") && stderr.contains("\"foo\""), "{stderr}");
    assert!(stderr.contains("session.idle_timeout"), "{stderr}");
}

#[test]
fn config_check_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = latchkey_tests::latchkey_command(dir.path(), &Db::Sqlite)
        .args(["config", "check"])
        .env("LATCHKEY_DATABASE__URL", "postgres://latchkey:hunter2-secret@127.0.0.1/latchkey")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("issuer") && stdout.contains("idle_timeout"), "{stdout}");
    assert!(!stdout.contains("hunter2-secret"), "{stdout}");
}
