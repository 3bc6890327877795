//! The `latchkey` binary's command-line surface. Having an integration test here also makes
//! `cargo test --workspace` build the real binary, which the end-to-end tests in `tests/` run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

fn latchkey(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_latchkey")).args(args).current_dir(dir.path()).output().unwrap()
}

#[test]
fn help_lists_every_command() {
    let out = latchkey(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "migrate", "config", "users", "roles", "clients", "keys"] {
        assert!(text.contains(command), "{command} missing from --help:\n{text}");
    }
    let out = latchkey(&["users", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["add", "list", "set-password", "disable", "enable", "grant-role", "revoke-role"] {
        assert!(text.contains(command), "users {command} missing:\n{text}");
    }
    let out = latchkey(&["clients", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["add", "list", "remove", "rotate-secret"] {
        assert!(text.contains(command), "clients {command} missing:\n{text}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = latchkey(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_commands_and_passwords_in_argv_are_refused() {
    let out = latchkey(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    // There is deliberately no --password flag: passwords never go through argv.
    let out = latchkey(&["users", "add", "alice", "--email", "a@example.com", "--password", "x"]);
    assert_eq!(out.status.code(), Some(2));
}
