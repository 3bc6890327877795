//! The effective configuration as TOML, for `latchkey config check`.
//!
//! Written by hand rather than by a serializer so that secrets cannot reach the output by
//! accident: each field is listed here explicitly, and every `Secret` is written as `[redacted]`.

use std::fmt::Write as _;
use std::time::Duration;

use latchkey_core::secret::Secret;

use super::Config;
use super::build::fmt_duration;

const REDACTED: &str = "[redacted]";

pub(super) fn redacted_toml(c: &Config) -> String {
    let mut out = String::new();
    out.push_str("# Effective Latchkey configuration; secrets are shown as \"[redacted]\".\n");
    kv(&mut out, "issuer", &string(c.issuer_str()));
    kv(&mut out, "listen", &string(&c.listen.to_string()));
    kv(&mut out, "data_dir", &string(&c.data_dir.to_string_lossy()));
    let proxies: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
    kv(&mut out, "trusted_proxies", &string_array(&proxies));

    section(&mut out, "[database]");
    let scheme = c.database.url.expose().split_once(':').map_or("", |(s, _)| s);
    let _ = writeln!(out, "url = {}  # scheme: {}", secret(&c.database.url), scheme);
    kv(&mut out, "max_connections", &c.database.max_connections.to_string());
    kv(&mut out, "connect_timeout", &duration(c.database.connect_timeout));

    section(&mut out, "[log]");
    kv(&mut out, "format", &string(c.log.format.as_str()));
    kv(&mut out, "level", &string(&c.log.level));

    section(&mut out, "[session]");
    kv(&mut out, "idle_timeout", &duration(c.session.idle_timeout));
    kv(&mut out, "absolute_timeout", &duration(c.session.absolute_timeout));
    kv(&mut out, "remember_me_lifetime", &duration(c.session.remember_me_lifetime));
    kv(&mut out, "remember_me_idle_timeout", &duration(c.session.remember_me_idle_timeout));
    kv(&mut out, "touch_interval", &duration(c.session.touch_interval));

    match &c.tls {
        Some(tls) => {
            section(&mut out, "[tls]");
            kv(&mut out, "cert", &string(&tls.cert.to_string_lossy()));
            kv(&mut out, "key", &string(&tls.key.to_string_lossy()));
        }
        None => section(&mut out, "# [tls] not set: plain HTTP (TLS terminated in front of the server)"),
    }

    section(&mut out, "[keys]");
    match &c.keys.encryption_key {
        Some(key) => kv(&mut out, "encryption_key", &secret(key)),
        None => out.push_str("# encryption_key not set: generated and kept in data_dir\n"),
    }
    kv(&mut out, "rotation_interval", &duration(c.keys.rotation_interval));
    kv(&mut out, "refresh_interval", &duration(c.keys.refresh_interval));

    section(&mut out, "[http]");
    kv(&mut out, "body_limit", &c.http.body_limit.to_string());
    kv(&mut out, "request_timeout", &duration(c.http.request_timeout));
    kv(&mut out, "shutdown_grace", &duration(c.http.shutdown_grace));

    section(&mut out, "[passwords]");
    kv(&mut out, "min_length", &c.passwords.min_length.to_string());
    kv(&mut out, "argon2_memory_kib", &c.passwords.argon2_memory_kib.to_string());
    kv(&mut out, "argon2_iterations", &c.passwords.argon2_iterations.to_string());
    kv(&mut out, "argon2_parallelism", &c.passwords.argon2_parallelism.to_string());
    kv(&mut out, "max_concurrent_hashes", &c.passwords.max_concurrent_hashes.to_string());
    kv(&mut out, "hash_queue_timeout", &duration(c.passwords.hash_queue_timeout));

    section(&mut out, "[tokens]");
    kv(&mut out, "refresh_reuse_grace", &duration(c.tokens.refresh_reuse_grace));
    kv(&mut out, "refresh_token_idle_lifetime", &duration(c.tokens.refresh_token_idle_lifetime));
    kv(&mut out, "refresh_token_absolute_lifetime", &duration(c.tokens.refresh_token_absolute_lifetime));
    kv(&mut out, "first_party_refresh_tokens", &c.tokens.first_party_refresh_tokens.to_string());

    for client in &c.clients {
        section(&mut out, "[[clients]]");
        kv(&mut out, "id", &string(&client.id));
        if let Some(name) = &client.name {
            kv(&mut out, "name", &string(name));
        }
        if let Some(s) = &client.secret {
            kv(&mut out, "secret", &secret(s));
        }
        kv(&mut out, "redirect_uris", &string_array(&client.redirect_uris));
        kv(&mut out, "post_logout_redirect_uris", &string_array(&client.post_logout_redirect_uris));
        kv(&mut out, "public", &client.public.to_string());
        kv(&mut out, "first_party", &client.first_party.to_string());
        kv(&mut out, "scopes", &string_array(&client.scopes));
        let grants: Vec<String> = client.grants.iter().map(|g| g.as_str().to_owned()).collect();
        kv(&mut out, "grants", &string_array(&grants));
        kv(&mut out, "allow_insecure_http", &client.allow_insecure_http.to_string());
    }
    out
}

fn section(out: &mut String, header: &str) {
    out.push('\n');
    out.push_str(header);
    out.push('\n');
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

/// Secrets are never read here: only the placeholder is written.
fn secret(_: &Secret) -> String {
    string(REDACTED)
}

fn duration(d: Duration) -> String {
    string(&fmt_duration(d))
}

fn string_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A TOML basic string (TOML 1.0 §String): `"` and `\` escaped, control characters as `\uXXXX`.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
