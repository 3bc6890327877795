//! Validation of the merged tree into a typed [`Config`], one section at a time (`[[clients]]` is
//! in `clients.rs`).
//!
//! Each reader returns `Err(Reported)` after recording its problem, and the `?` inside the final
//! struct literals only runs once every section has been checked, so no problem hides another.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use ipnet::IpNet;
use latchkey_core::secret::Secret;
use serde_json::Value;
use url::Url;

use super::walk::{Got, Reported, Table, Walker};
use super::{
    Config, ConfigErrors, DatabaseConfig, HttpConfig, KeysConfig, LogConfig, LogFormat, PasswordConfig, SessionConfig,
    TlsConfig, TokensConfig,
};

pub(super) const DEFAULT_DATA_DIR: &str = "./data";

const ROOT_KEYS: &[&str] = &[
    "issuer",
    "listen",
    "data_dir",
    "database",
    "log",
    "session",
    "tls",
    "trusted_proxies",
    "clients",
    "keys",
    "http",
    "passwords",
    "tokens",
];

pub(super) fn default_issuer() -> Url {
    // A literal that always parses; there is no const constructor for `Url`.
    Url::parse("http://127.0.0.1:8080").unwrap_or_else(|_| unreachable!("the default issuer is a valid URL"))
}

/// `sqlite://<data_dir>/latchkey.db?mode=rwc`: `rwc` creates the file on first start.
pub(super) fn default_database_url(data_dir: &Path) -> String {
    let dir = data_dir.to_string_lossy();
    let dir = dir.trim_end_matches('/');
    // sqlx percent-decodes the path and cuts it at `?`, so those characters must be escaped.
    let mut escaped = String::with_capacity(dir.len());
    for c in dir.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    format!("sqlite://{escaped}/latchkey.db?mode=rwc")
}

pub(super) fn build(
    tree: &Value,
    origins: &BTreeMap<String, String>,
    errors: Vec<String>,
) -> Result<Config, ConfigErrors> {
    let mut w = Walker::new(origins, errors);
    let config = root(&mut w, tree);
    match config {
        Ok(config) if w.errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(w.errors)),
    }
}

fn root(w: &mut Walker<'_>, tree: &Value) -> Got<Config> {
    let root = w.table("", Some(tree), ROOT_KEYS)?;
    let issuer = issuer(w, &root);
    let listen = listen(w, &root);
    let data_dir = data_dir(w, &root);
    let database = database(w, &root, data_dir.as_ref().ok());
    let log = log(w, &root);
    let session = session(w, &root);
    let tls = tls(w, &root);
    let trusted_proxies = trusted_proxies(w, &root);
    let clients = super::clients::clients(w, &root);
    let keys = keys(w, &root);
    let http = http(w, &root);
    let passwords = passwords(w, &root);
    let tokens = tokens(w, &root);
    Ok(Config {
        issuer: issuer?,
        listen: listen?,
        data_dir: data_dir?,
        database: database?,
        log: log?,
        session: session?,
        tls: tls?,
        trusted_proxies: trusted_proxies?,
        clients: clients?,
        keys: keys?,
        http: http?,
        passwords: passwords?,
        tokens: tokens?,
    })
}

fn tokens(w: &mut Walker<'_>, root: &Table<'_>) -> Got<TokensConfig> {
    let t = w.table(
        "tokens",
        root.get("tokens"),
        &[
            "refresh_reuse_grace",
            "refresh_token_idle_lifetime",
            "refresh_token_absolute_lifetime",
            "first_party_refresh_tokens",
        ],
    )?;
    const DAY: u64 = 86_400;
    let grace_path = t.path("refresh_reuse_grace");
    // Zero is allowed: no grace, every reuse revokes. More than a minute is no longer "concurrent".
    let grace = match w.duration(&grace_path, t.get("refresh_reuse_grace")) {
        Ok(None) => Ok(Duration::from_secs(5)),
        Ok(Some(d)) if d > Duration::from_secs(60) => Err(w.error(&grace_path, "must be at most 1 minute")),
        Ok(Some(d)) => Ok(d),
        Err(e) => Err(e),
    };
    let idle = positive_duration(w, &t, "refresh_token_idle_lifetime", Duration::from_secs(30 * DAY));
    let absolute = positive_duration(w, &t, "refresh_token_absolute_lifetime", Duration::from_secs(90 * DAY));
    not_longer(w, &t, ("refresh_token_idle_lifetime", idle), ("refresh_token_absolute_lifetime", absolute));
    let fp_path = t.path("first_party_refresh_tokens");
    let first_party = w.boolean(&fp_path, t.get("first_party_refresh_tokens")).map(|b| b.unwrap_or(false));
    Ok(TokensConfig {
        refresh_reuse_grace: grace?,
        refresh_token_idle_lifetime: idle?,
        refresh_token_absolute_lifetime: absolute?,
        first_party_refresh_tokens: first_party?,
    })
}

/// OpenID Connect Discovery §3: https with no query or fragment. Plain http is accepted for
/// local development (and warned about). The trailing slash is trimmed because the issuer is
/// compared as an exact string and URLs are built by appending paths to it.
fn issuer(w: &mut Walker<'_>, t: &Table<'_>) -> Got<Url> {
    let path = t.path("issuer");
    let Some(raw) = w.string(&path, t.get("issuer"), false)? else {
        return Ok(default_issuer());
    };
    let parsed = Url::parse(raw.trim()).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
            && !raw.contains(['?', '#'])
    });
    let Some(mut url) = parsed else {
        return Err(
            w.error(&path, format_args!("must be an absolute http(s) URL without query or fragment, got {raw:?}"))
        );
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(w.error(&path, "must not contain user information (user:password@)"));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn listen(w: &mut Walker<'_>, t: &Table<'_>) -> Got<SocketAddr> {
    let path = t.path("listen");
    match w.string(&path, t.get("listen"), false)? {
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
        Some(raw) => raw.trim().parse().map_err(|_| {
            w.error(
                &path,
                format_args!("must be an IP address and port such as 127.0.0.1:8080 or [::]:8080, got {raw:?}"),
            )
        }),
    }
}

fn data_dir(w: &mut Walker<'_>, t: &Table<'_>) -> Got<PathBuf> {
    let path = t.path("data_dir");
    match w.string(&path, t.get("data_dir"), false)? {
        None => Ok(PathBuf::from(DEFAULT_DATA_DIR)),
        Some(raw) if raw.trim().is_empty() => Err(w.error(&path, "must not be empty")),
        Some(raw) => Ok(PathBuf::from(raw)),
    }
}

fn database(w: &mut Walker<'_>, root: &Table<'_>, data_dir: Option<&PathBuf>) -> Got<DatabaseConfig> {
    let t = w.table("database", root.get("database"), &["url", "max_connections", "connect_timeout"])?;

    let url_path = t.path("url");
    let url = match w.string(&url_path, t.get("url"), true) {
        Ok(Some(url)) => check_database_url(w, &url_path, url),
        // Without a valid data_dir there is no default; data_dir's problem is already reported.
        Ok(None) => data_dir.map(|d| Secret::new(default_database_url(d))).ok_or(Reported),
        Err(e) => Err(e),
    };
    let max_connections = ranged(w, &t, "max_connections", 10, 1, 1000);
    let connect_timeout = positive_duration(w, &t, "connect_timeout", Duration::from_secs(5));
    Ok(DatabaseConfig { url: url?, max_connections: to_u32(max_connections?)?, connect_timeout: connect_timeout? })
}

/// Only the scheme is ever echoed back: the rest of the URL may hold a password.
fn check_database_url(w: &mut Walker<'_>, path: &str, url: String) -> Got<Secret> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Secret::new(url)),
        Some("postgres" | "postgresql") => match Url::parse(&url) {
            Ok(_) => Ok(Secret::new(url)),
            Err(e) => Err(w.error(path, format_args!("is not a valid PostgreSQL URL ({e})"))),
        },
        Some(s)
            if !s.is_empty()
                && s.len() <= 16
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            Err(w.error(path, format_args!("must use the sqlite:, postgres: or postgresql: scheme, got {s:?}")))
        }
        _ => Err(w.error(path, "must be a URL with the sqlite:, postgres: or postgresql: scheme")),
    }
}

fn log(w: &mut Walker<'_>, root: &Table<'_>) -> Got<LogConfig> {
    let t = w.table("log", root.get("log"), &["format", "level"])?;

    let format_path = t.path("format");
    let format = match w.string(&format_path, t.get("format"), false) {
        Ok(None) => Ok(LogFormat::Pretty),
        Ok(Some(raw)) => match raw.trim().to_ascii_lowercase().as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(w.error(&format_path, format_args!("must be \"pretty\" or \"json\", got {raw:?}"))),
        },
        Err(e) => Err(e),
    };

    let level_path = t.path("level");
    let level = match w.string(&level_path, t.get("level"), false) {
        Ok(None) => Ok("info".to_owned()),
        Ok(Some(raw)) if raw.trim().is_empty() => Err(w.error(&level_path, "must not be empty")),
        Ok(Some(raw)) => match tracing_subscriber::EnvFilter::try_new(raw.trim()) {
            Ok(_) => Ok(raw.trim().to_owned()),
            Err(e) => Err(w.error(
                &level_path,
                format_args!(
                    "must be a log filter such as \"info\" or \"info,latchkey_server=debug\" ({e}), got {raw:?}"
                ),
            )),
        },
        Err(e) => Err(e),
    };
    Ok(LogConfig { format: format?, level: level? })
}

fn session(w: &mut Walker<'_>, root: &Table<'_>) -> Got<SessionConfig> {
    let t = w.table(
        "session",
        root.get("session"),
        &["idle_timeout", "absolute_timeout", "remember_me_lifetime", "remember_me_idle_timeout", "touch_interval"],
    )?;
    const DAY: u64 = 86_400;
    let idle = positive_duration(w, &t, "idle_timeout", Duration::from_secs(3600));
    let absolute = positive_duration(w, &t, "absolute_timeout", Duration::from_secs(12 * 3600));
    let rm_lifetime = positive_duration(w, &t, "remember_me_lifetime", Duration::from_secs(30 * DAY));
    let rm_idle = positive_duration(w, &t, "remember_me_idle_timeout", Duration::from_secs(7 * DAY));
    let touch = positive_duration(w, &t, "touch_interval", Duration::from_secs(60));

    not_longer(w, &t, ("idle_timeout", idle), ("absolute_timeout", absolute));
    not_longer(w, &t, ("remember_me_idle_timeout", rm_idle), ("remember_me_lifetime", rm_lifetime));
    // A session touched less often than it idles out would expire while in use.
    shorter(w, &t, ("touch_interval", touch), ("idle_timeout", idle));
    shorter(w, &t, ("touch_interval", touch), ("remember_me_idle_timeout", rm_idle));

    Ok(SessionConfig {
        idle_timeout: idle?,
        absolute_timeout: absolute?,
        remember_me_lifetime: rm_lifetime?,
        remember_me_idle_timeout: rm_idle?,
        touch_interval: touch?,
    })
}

fn not_longer(w: &mut Walker<'_>, t: &Table<'_>, a: (&str, Got<Duration>), b: (&str, Got<Duration>)) {
    if let ((name_a, Ok(da)), (name_b, Ok(db))) = (a, b)
        && da > db
    {
        let (pa, pb) = (t.path(name_a), t.path(name_b));
        w.error(&pa, format_args!("must not be longer than {pb} ({} > {})", fmt_duration(da), fmt_duration(db)));
    }
}

fn shorter(w: &mut Walker<'_>, t: &Table<'_>, a: (&str, Got<Duration>), b: (&str, Got<Duration>)) {
    if let ((name_a, Ok(da)), (name_b, Ok(db))) = (a, b)
        && da >= db
    {
        let (pa, pb) = (t.path(name_a), t.path(name_b));
        w.error(&pa, format_args!("must be shorter than {pb} ({} >= {})", fmt_duration(da), fmt_duration(db)));
    }
}

fn tls(w: &mut Walker<'_>, root: &Table<'_>) -> Got<Option<TlsConfig>> {
    let t = w.table("tls", root.get("tls"), &["cert", "key"])?;
    let cert = readable_file(w, &t, "cert");
    let key = readable_file(w, &t, "key");
    match (cert?, key?) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsConfig { cert, key })),
        (Some(_), None) => Err(w.error(&t.path("key"), "required when tls.cert is set (set both or neither)")),
        (None, Some(_)) => Err(w.error(&t.path("cert"), "required when tls.key is set (set both or neither)")),
    }
}

fn readable_file(w: &mut Walker<'_>, t: &Table<'_>, key: &str) -> Got<Option<PathBuf>> {
    let path = t.path(key);
    let Some(raw) = w.string(&path, t.get(key), false)? else {
        return Ok(None);
    };
    // Checked now so that a missing certificate fails start-up, not the first TLS handshake.
    match std::fs::File::open(&raw) {
        Ok(_) => Ok(Some(PathBuf::from(raw))),
        Err(e) => Err(w.error(&path, format_args!("cannot read {raw:?}: {e}"))),
    }
}

fn trusted_proxies(w: &mut Walker<'_>, root: &Table<'_>) -> Got<Vec<IpNet>> {
    let path = root.path("trusted_proxies");
    let items = w.string_list(&path, root.get("trusted_proxies"))?.unwrap_or_default();
    let mut nets = Vec::with_capacity(items.len());
    let mut result = Ok(());
    for (i, item) in items.iter().enumerate() {
        let parsed = item.parse::<IpNet>().or_else(|_| item.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => {
                result = Err(w.error(
                    &format!("{path}[{i}]"),
                    format_args!("must be an IP address or CIDR block such as 10.0.0.0/8, got {item:?}"),
                ));
            }
        }
    }
    result.map(|()| nets)
}

fn keys(w: &mut Walker<'_>, root: &Table<'_>) -> Got<KeysConfig> {
    let t = w.table("keys", root.get("keys"), &["encryption_key", "rotation_interval", "refresh_interval"])?;
    let key_path = t.path("encryption_key");
    let encryption_key = match w.string(&key_path, t.get("encryption_key"), true) {
        Ok(None) => Ok(None),
        Ok(Some(raw)) => match decode_key(&raw) {
            Ok(_) => Ok(Some(Secret::new(raw.trim()))),
            Err(problem) => Err(w.error(&key_path, problem)),
        },
        Err(e) => Err(e),
    };
    let rotation_interval = positive_duration(w, &t, "rotation_interval", Duration::from_secs(30 * 86_400));
    // At least a second, so a cluster of nodes does not turn the refresh into a query loop; at most
    // an hour, so a rotation made elsewhere always reaches every node within a bounded time.
    let refresh_path = t.path("refresh_interval");
    let refresh_interval = match w.duration(&refresh_path, t.get("refresh_interval")) {
        Ok(None) => Ok(Duration::from_secs(60)),
        Ok(Some(d)) if (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) => Ok(d),
        Ok(Some(d)) => Err(w.error(&refresh_path, format_args!("must be between 1s and 1h, got {}", fmt_duration(d)))),
        Err(e) => Err(e),
    };
    Ok(KeysConfig {
        encryption_key: encryption_key?,
        rotation_interval: rotation_interval?,
        refresh_interval: refresh_interval?,
    })
}

/// Base64 (standard or URL-safe alphabet, padding optional) of exactly 32 bytes. The message
/// never includes the value.
pub(super) fn decode_key(raw: &str) -> Result<[u8; 32], String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let raw = raw.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(raw).ok())
        .ok_or_else(|| "must be base64 of 32 random bytes (openssl rand -base64 32), got something else".to_owned())?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| format!("must be base64 of exactly 32 bytes (openssl rand -base64 32), got {len} bytes"))
}

fn http(w: &mut Walker<'_>, root: &Table<'_>) -> Got<HttpConfig> {
    let t = w.table("http", root.get("http"), &["body_limit", "request_timeout", "shutdown_grace"])?;
    // Every request Latchkey accepts is a small form or JSON body; a large limit only helps a
    // denial of service.
    const MIN_BODY: u64 = 1024;
    const MAX_BODY: u64 = 64 * 1024 * 1024;
    let path = t.path("body_limit");
    let body_limit = match w.byte_size(&path, t.get("body_limit")) {
        Ok(None) => Ok(64 * 1024),
        Ok(Some(v)) if (MIN_BODY..=MAX_BODY).contains(&v) => Ok(v),
        Ok(Some(v)) => Err(w.error(&path, format_args!("must be between 1KiB and 64MiB, got {v} bytes"))),
        Err(e) => Err(e),
    };
    let request_timeout = positive_duration(w, &t, "request_timeout", Duration::from_secs(30));
    // Zero is allowed: stop at once without waiting for requests in flight.
    let shutdown_grace = w.duration(&t.path("shutdown_grace"), t.get("shutdown_grace"));
    Ok(HttpConfig {
        body_limit: to_usize(body_limit?)?,
        request_timeout: request_timeout?,
        shutdown_grace: shutdown_grace?.unwrap_or(Duration::from_secs(30)),
    })
}

fn passwords(w: &mut Walker<'_>, root: &Table<'_>) -> Got<PasswordConfig> {
    let t = w.table(
        "passwords",
        root.get("passwords"),
        &[
            "min_length",
            "argon2_memory_kib",
            "argon2_iterations",
            "argon2_parallelism",
            "max_concurrent_hashes",
            "hash_queue_timeout",
        ],
    )?;
    // NIST SP 800-63B §3.1.1.2: at least 8 characters, and at least 64 must be accepted, so a
    // minimum above 64 would reject every password.
    let min_length = ranged(w, &t, "min_length", 15, 8, 64);
    // Values below the OWASP defaults (19456 KiB, 2 iterations) are for tests only; the Argon2
    // minimum is 8 KiB per lane.
    let memory = ranged(w, &t, "argon2_memory_kib", 19_456, 8, 4 * 1024 * 1024);
    let iterations = ranged(w, &t, "argon2_iterations", 2, 1, 100);
    let parallelism = ranged(w, &t, "argon2_parallelism", 1, 1, 64);
    if let (Ok(m), Ok(p)) = (&memory, &parallelism)
        && *m < 8 * p
    {
        let path = t.path("argon2_memory_kib");
        w.error(&path, format_args!("must be at least 8 × passwords.argon2_parallelism ({}), got {m}", 8 * p));
    }
    let max_concurrent = ranged(w, &t, "max_concurrent_hashes", 0, 0, 1024);
    let queue_timeout = positive_duration(w, &t, "hash_queue_timeout", Duration::from_secs(2));
    Ok(PasswordConfig {
        min_length: to_usize(min_length?)?,
        argon2_memory_kib: to_u32(memory?)?,
        argon2_iterations: to_u32(iterations?)?,
        argon2_parallelism: to_u32(parallelism?)?,
        max_concurrent_hashes: to_usize(max_concurrent?)?,
        hash_queue_timeout: queue_timeout?,
    })
}

/// A whole number in `min..=max`, or `default` when unset.
fn ranged(w: &mut Walker<'_>, t: &Table<'_>, key: &str, default: u64, min: u64, max: u64) -> Got<u64> {
    let path = t.path(key);
    match w.uint(&path, t.get(key))? {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(w.error(&path, format_args!("must be between {min} and {max}, got {v}"))),
    }
}

/// A duration greater than zero, or `default` when unset.
fn positive_duration(w: &mut Walker<'_>, t: &Table<'_>, key: &str, default: Duration) -> Got<Duration> {
    let path = t.path(key);
    match w.duration(&path, t.get(key))? {
        None => Ok(default),
        Some(d) if d.is_zero() => Err(w.error(&path, "must be greater than zero")),
        Some(d) => Ok(d),
    }
}

/// Ranges are checked before conversion, so these only fail on a platform too small for the range.
fn to_u32(v: u64) -> Got<u32> {
    u32::try_from(v).map_err(|_| Reported)
}

fn to_usize(v: u64) -> Got<usize> {
    usize::try_from(v).map_err(|_| Reported)
}

pub(super) fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
