//! The `latchkey-demo-rp` binary's command line: help, `--check` with the layered configuration,
//! and configuration errors. (Building this test also builds the binary that the browser tests in
//! `tests/tests/browser_demo.rs` start.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn demo_rp(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey-demo-rp"));
    // An empty working directory: no config/demo-rp.toml, so only defaults and `env` count.
    cmd.current_dir(dir.path()).args(args);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("LATCHKEY_DEMO_RP__")) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_describes_the_demo_and_its_configuration() {
    let out = demo_rp(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("signs in with Latchkey"), "{help}");
    assert!(help.contains("--config") && help.contains("--check"), "{help}");
    assert!(help.contains("LATCHKEY_DEMO_RP__"), "{help}");
}

#[test]
fn check_prints_the_effective_configuration_with_the_secret_redacted() {
    let out = demo_rp(
        &["--check"],
        &[("LATCHKEY_DEMO_RP__ISSUER", "https://id.example.com/"), ("LATCHKEY_DEMO_RP__IDLE_TIMEOUT", "15m")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("issuer = \"https://id.example.com\""), "{stdout}");
    assert!(stdout.contains("idle_timeout = \"15m\""), "{stdout}");
    assert!(stdout.contains("listen = \"127.0.0.1:8081\""), "{stdout}");
    assert!(stdout.contains("client_secret = \"[redacted]\""), "{stdout}");
    assert!(!stdout.contains("demo-rp-local-secret"), "{stdout}");
}

#[test]
fn the_repositorys_config_file_is_read_with_config() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-rp.toml");
    let out = demo_rp(&["--config", file, "--check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("public_url = \"http://127.0.0.1:8081\""));
}

#[test]
fn bad_configuration_names_every_problem_and_exits_2() {
    let out = demo_rp(
        &["--check"],
        &[
            ("LATCHKEY_DEMO_RP__ISSUER", "nope"),
            ("LATCHKEY_DEMO_RP__CLIENT_SECRET", "short"),
            ("LATCHKEY_DEMO_RP__COLOUR", "blue"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for key in ["LATCHKEY_DEMO_RP__COLOUR: unknown key", "issuer:", "client_secret:"] {
        assert!(stderr.contains(key), "{key} in {stderr}");
    }
}
