//! Validation of the merged tree into a typed [`Config`], one section at a time.
//!
//! Each reader returns `Err(Reported)` after recording its problem, and the `?` inside the final
//! struct literals only runs once every section has been checked, so no problem hides another.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use ipnet::IpNet;
use latchkey_core::client::{validate_client_id, validate_redirect_uri, validate_scope_token};
use latchkey_core::model::GrantType;
use latchkey_core::secret::Secret;
use serde_json::Value;
use url::Url;

use super::walk::{Got, Reported, Table, Walker};
use super::{
    ClientConfig, Config, ConfigErrors, DatabaseConfig, HttpConfig, KeysConfig, LogConfig, LogFormat, PasswordConfig,
    SessionConfig, TlsConfig,
};

pub(super) const DEFAULT_DATA_DIR: &str = "./data";
pub(super) const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
pub(super) const DEFAULT_GRANTS: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
/// A confidential client's secret must carry at least as much entropy as a generated one could.
const MIN_CLIENT_SECRET_CHARS: usize = 32;

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
    let clients = clients(w, &root);
    let keys = keys(w, &root);
    let http = http(w, &root);
    let passwords = passwords(w, &root);
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
    let t = w.table("keys", root.get("keys"), &["encryption_key", "rotation_interval"])?;
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
    Ok(KeysConfig { encryption_key: encryption_key?, rotation_interval: rotation_interval? })
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

const CLIENT_KEYS: &[&str] = &[
    "id",
    "name",
    "secret",
    "redirect_uris",
    "post_logout_redirect_uris",
    "public",
    "first_party",
    "scopes",
    "grants",
    "allow_insecure_http",
];

fn clients(w: &mut Walker<'_>, root: &Table<'_>) -> Got<Vec<ClientConfig>> {
    let items = w.table_array("clients", root.get("clients"))?;
    let mut clients = Vec::with_capacity(items.len());
    let mut result = Ok(());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        match client(w, &format!("clients[{i}]"), item) {
            Ok(client) => {
                if let Some(first) = seen.get(&client.id) {
                    let message = format!("duplicate client id {:?} (also clients[{first}])", client.id);
                    result = Err(w.error(&format!("clients[{i}].id"), message));
                } else {
                    seen.insert(client.id.clone(), i);
                }
                clients.push(client);
            }
            Err(e) => result = Err(e),
        }
    }
    result.map(|()| clients)
}

fn client(w: &mut Walker<'_>, path: &str, value: &Value) -> Got<ClientConfig> {
    let t = w.table(path, Some(value), CLIENT_KEYS)?;

    let id_path = t.path("id");
    let id = match w.string(&id_path, t.get("id"), false) {
        Ok(None) => Err(w.error(&id_path, "required")),
        Ok(Some(id)) => validate_client_id(&id).map(|()| id).map_err(|e| w.error(&id_path, e)),
        Err(e) => Err(e),
    };
    let name = w.string(&t.path("name"), t.get("name"), false);
    let secret_path = t.path("secret");
    let secret = w.string(&secret_path, t.get("secret"), true);
    let public = flag(w, &t, "public");
    let first_party = flag(w, &t, "first_party");
    let allow_insecure_http = flag(w, &t, "allow_insecure_http");

    // Without a readable allow_insecure_http, checking URIs would only add misleading messages.
    let redirect_uris = allow_insecure_http.and_then(|insecure| uri_list(w, &t, "redirect_uris", insecure));
    let post_logout = allow_insecure_http.and_then(|insecure| uri_list(w, &t, "post_logout_redirect_uris", insecure));

    let scopes_path = t.path("scopes");
    let scopes = match w.string_list(&scopes_path, t.get("scopes")) {
        Ok(None) => Ok(DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
        Ok(Some(scopes)) => {
            let mut result = Ok(());
            for (i, scope) in scopes.iter().enumerate() {
                if let Err(e) = validate_scope_token(scope) {
                    result = Err(w.error(&format!("{scopes_path}[{i}]"), e));
                }
            }
            result.map(|()| dedup(scopes))
        }
        Err(e) => Err(e),
    };

    let grants_path = t.path("grants");
    let grants = match w.string_list(&grants_path, t.get("grants")) {
        Ok(None) => Ok(DEFAULT_GRANTS.to_vec()),
        Ok(Some(names)) if names.is_empty() => Err(w.error(&grants_path, "at least one grant type is required")),
        Ok(Some(names)) => {
            let mut grants = Vec::new();
            let mut result = Ok(());
            for (i, name) in names.iter().enumerate() {
                match GrantType::parse(name.trim()) {
                    Some(g) if !grants.contains(&g) => grants.push(g),
                    Some(_) => {}
                    None => {
                        let message = format!(
                            "unknown grant type {name:?}; \
                             expected authorization_code, refresh_token or client_credentials"
                        );
                        result = Err(w.error(&format!("{grants_path}[{i}]"), message));
                    }
                }
            }
            result.map(|()| grants)
        }
        Err(e) => Err(e),
    };

    // Redirect URIs are what the authorization endpoint needs; a client that only uses
    // client_credentials never goes through it.
    if let (Ok(uris), Ok(grants)) = (&redirect_uris, &grants)
        && uris.is_empty()
        && grants.contains(&GrantType::AuthorizationCode)
    {
        w.error(&t.path("redirect_uris"), "at least one redirect URI is required");
    }

    let secret = match (&public, secret) {
        (Ok(true), Ok(Some(_))) => Err(w.error(&secret_path, "a public client must not have a secret")),
        (Ok(false), Ok(None)) => {
            Err(w.error(&secret_path, "required for a confidential client (or set public = true)"))
        }
        (_, Ok(Some(s))) if s.chars().count() < MIN_CLIENT_SECRET_CHARS => {
            let len = s.chars().count();
            Err(w.error(&secret_path, format_args!("must be at least {MIN_CLIENT_SECRET_CHARS} characters, got {len}")))
        }
        (_, secret) => secret.map(|s| s.map(Secret::new)),
    };

    // RFC 6749 §4.4: the client credentials grant is for clients that can authenticate.
    if let (Ok(true), Ok(grants)) = (&public, &grants)
        && grants.contains(&GrantType::ClientCredentials)
    {
        w.error(&grants_path, "client_credentials is not allowed for a public client");
    }

    Ok(ClientConfig {
        id: id?,
        name: name?,
        secret: secret?,
        redirect_uris: redirect_uris?,
        post_logout_redirect_uris: post_logout?,
        public: public?,
        first_party: first_party?,
        scopes: scopes?,
        grants: grants?,
        allow_insecure_http: allow_insecure_http?,
    })
}

fn flag(w: &mut Walker<'_>, t: &Table<'_>, key: &str) -> Got<bool> {
    Ok(w.boolean(&t.path(key), t.get(key))?.unwrap_or(false))
}

/// Redirect URIs are kept exactly as written: the authorization endpoint compares them as strings.
fn uri_list(w: &mut Walker<'_>, t: &Table<'_>, key: &str, allow_insecure_http: bool) -> Got<Vec<String>> {
    let path = t.path(key);
    let uris = w.string_list(&path, t.get(key))?.unwrap_or_default();
    let mut result = Ok(());
    for (i, uri) in uris.iter().enumerate() {
        if let Err(e) = validate_redirect_uri(uri, allow_insecure_http) {
            result = Err(w.error(&format!("{path}[{i}]"), e));
        }
    }
    result.map(|()| dedup(uris))
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
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
