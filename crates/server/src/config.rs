//! Layered configuration, validated once at start-up into a typed [`Config`].
//!
//! Layers, each overriding the one before: built-in defaults, then `config/latchkey.toml` (or the
//! file given with `--config`), then `LATCHKEY_*` environment variables (`__` separates nesting
//! levels: `LATCHKEY_DATABASE__URL` is `database.url`), then command-line flags.
//!
//! The layers are merged with figment into an untyped tree first and only then checked key by key,
//! so that one start-up reports every problem at once (unknown keys, wrong types, out-of-range
//! values, broken client registrations), each naming its key. Serde's derive would stop at the
//! first error. Nothing reads the environment after [`Config::load`] returns: the process
//! environment is passed in, which also keeps the tests free of global state.

mod build;
mod clients;
mod render;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use ipnet::IpNet;
use latchkey_core::model::GrantType;
use latchkey_core::secret::Secret;
use url::Url;

/// The file read when `--config` is not given, relative to the working directory. Unlike
/// figment's `Toml::file`, parent directories are not searched: a stray file higher up must not
/// silently configure the server.
pub const DEFAULT_CONFIG_FILE: &str = "config/latchkey.toml";

/// Environment variables starting with this prefix are configuration.
pub const ENV_PREFIX: &str = "LATCHKEY_";

/// `LATCHKEY_` variables that belong to someone else: the test harness and the demo relying party.
/// Every other `LATCHKEY_` variable must name a configuration key, so that a typo fails start-up
/// instead of being ignored.
const FOREIGN_ENV_PREFIXES: [&str; 2] = ["TEST_", "DEMO_RP__"];

/// The effective configuration. Built only by [`Config::load`] (or [`Config::default`] in tests),
/// so every value in it has been validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The OpenID Provider's issuer identifier. Its path never ends in `/` (except the bare root,
    /// which `Url` always renders as `/`); use [`Config::issuer_str`] for the exact `iss` value.
    pub issuer: Url,
    pub listen: SocketAddr,
    /// Holds the SQLite database and the generated key-encryption key.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub session: SessionConfig,
    /// Direct HTTPS; `None` when TLS is terminated by a proxy in front of the server.
    pub tls: Option<TlsConfig>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Declarative client registrations (`[[clients]]`), upserted at start-up.
    pub clients: Vec<ClientConfig>,
    pub keys: KeysConfig,
    pub http: HttpConfig,
    pub passwords: PasswordConfig,
    pub tokens: TokensConfig,
}

/// Refresh-token lifetimes and rotation (`[tokens]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TokensConfig {
    /// A second use of a rotated refresh token within this window (two tabs, a retried request)
    /// is refused without revoking the family; later, it revokes the family (RFC 9700 §4.14.2).
    pub refresh_reuse_grace: Duration,
    /// A refresh token not rotated within this time expires (per token; a client's
    /// `refresh_token_lifetime` overrides it).
    pub refresh_token_idle_lifetime: Duration,
    /// A refresh-token family ends this long after the sign-in that started it, however often rotated.
    pub refresh_token_absolute_lifetime: Duration,
    /// First-party clients get a refresh token even without the `offline_access` scope.
    pub first_party_refresh_tokens: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    /// A `Secret` because a PostgreSQL URL may carry a password.
    pub url: Secret,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive string, already checked to parse.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    pub remember_me_lifetime: Duration,
    pub remember_me_idle_timeout: Duration,
    /// How often `last_seen_at` is written: a write on every request would make each page view a
    /// database write, so idle time is only measured to this precision.
    pub touch_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub id: String,
    pub name: Option<String>,
    pub secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Vec<String>,
    pub grants: Vec<GrantType>,
    pub allow_insecure_http: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeysConfig {
    /// Base64 of 32 bytes (checked at load); `None` means a key is generated into `data_dir`.
    pub encryption_key: Option<Secret>,
    pub rotation_interval: Duration,
    /// How often each node reloads the key set from the database: the bound on how long a rotation
    /// made elsewhere (another node, `latchkey keys rotate`) takes to reach this node.
    pub refresh_interval: Duration,
}

impl KeysConfig {
    /// The decoded key-encryption key, so that no consumer has to repeat the decoding rules.
    pub fn encryption_key_bytes(&self) -> Option<[u8; 32]> {
        self.encryption_key.as_ref().and_then(|k| build::decode_key(k.expose()).ok())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// 0 means one per CPU core; see [`PasswordConfig::hash_concurrency`].
    pub max_concurrent_hashes: usize,
    pub hash_queue_timeout: Duration,
}

impl PasswordConfig {
    /// How many Argon2 hashes may run at once: the configured limit, or one per core when 0.
    ///
    /// One per core, not more: a hash is pure CPU, so a second thread per core adds no throughput,
    /// only a second 19 MiB block and a longer wait for each hash. Measured with
    /// `flow_load login --workers 8` on 2 cores: 2 threads 91.5 and 97.0 sign-ins/s (p99 114 and
    /// 133 ms, 62.5 MiB RSS), 4 threads 87.5 and 87.9/s (p99 151 and 142 ms, 101.8 MiB).
    /// `available_parallelism` counts the cores this process may use (a cgroup CPU limit included).
    pub fn hash_concurrency(&self) -> usize {
        if self.max_concurrent_hashes > 0 {
            self.max_concurrent_hashes
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }
}

/// Values from command-line flags: the last and strongest layer. `Debug` redacts the database URL
/// (it may carry a password).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub database_url: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

impl std::fmt::Debug for CliOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliOverrides")
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("database_url", &self.database_url.as_ref().map(|_| "[redacted]"))
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .finish()
    }
}

impl CliOverrides {
    /// (key path, flag name, value) for each flag given.
    fn entries(&self) -> impl Iterator<Item = (&'static str, &'static str, &str)> {
        [
            ("listen", "--listen", &self.listen),
            ("issuer", "--issuer", &self.issuer),
            ("database.url", "--database-url", &self.database_url),
            ("log.level", "--log-level", &self.log_level),
            ("log.format", "--log-format", &self.log_format),
        ]
        .into_iter()
        .filter_map(|(key, flag, value)| value.as_deref().map(|v| (key, flag, v)))
    }
}

/// Every problem found in the configuration, one message per problem, each starting with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

impl Default for Config {
    /// The built-in defaults, as used when no file, variable or flag sets anything.
    fn default() -> Self {
        let data_dir = PathBuf::from(build::DEFAULT_DATA_DIR);
        Self {
            issuer: build::default_issuer(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DatabaseConfig {
                url: Secret::new(build::default_database_url(&data_dir)),
                max_connections: 10,
                connect_timeout: Duration::from_secs(5),
            },
            data_dir,
            log: LogConfig { format: LogFormat::Pretty, level: "info".to_owned() },
            session: SessionConfig {
                idle_timeout: Duration::from_secs(3600),
                absolute_timeout: Duration::from_secs(12 * 3600),
                remember_me_lifetime: Duration::from_secs(30 * 86_400),
                remember_me_idle_timeout: Duration::from_secs(7 * 86_400),
                touch_interval: Duration::from_secs(60),
            },
            tls: None,
            trusted_proxies: Vec::new(),
            clients: Vec::new(),
            keys: KeysConfig {
                encryption_key: None,
                rotation_interval: Duration::from_secs(30 * 86_400),
                refresh_interval: Duration::from_secs(60),
            },
            http: HttpConfig {
                body_limit: 64 * 1024,
                request_timeout: Duration::from_secs(30),
                shutdown_grace: Duration::from_secs(30),
            },
            passwords: PasswordConfig {
                min_length: 15,
                argon2_memory_kib: 19_456,
                argon2_iterations: 2,
                argon2_parallelism: 1,
                max_concurrent_hashes: 0,
                hash_queue_timeout: Duration::from_secs(2),
            },
            tokens: TokensConfig {
                refresh_reuse_grace: Duration::from_secs(5),
                refresh_token_idle_lifetime: Duration::from_secs(30 * 86_400),
                refresh_token_absolute_lifetime: Duration::from_secs(90 * 86_400),
                first_party_refresh_tokens: false,
            },
        }
    }
}

impl Config {
    /// Loads and validates the configuration.
    ///
    /// `file`: `Some(path)` from `--config` (the file must exist); `None` reads
    /// `./config/latchkey.toml` if it exists. `env`: the process environment, passed in so that
    /// tests need not touch the real one.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &CliOverrides,
    ) -> Result<Config, ConfigErrors> {
        Self::load_with_default_file(file, Path::new(DEFAULT_CONFIG_FILE), env, overrides)
    }

    fn load_with_default_file(
        file: Option<&Path>,
        default_file: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &CliOverrides,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut figment = Figment::new();

        if let Some((path, contents)) = read_file(file, default_file, &mut errors) {
            // Parsed on its own first: a syntax error is then reported with the file's name, and
            // the environment and flags are still checked so that every problem shows up at once.
            match Figment::from(Toml::string(&contents)).extract::<serde_json::Value>() {
                Ok(_) => figment = figment.merge(Toml::string(&contents)),
                Err(e) => errors.push(format!("{}: {}", path.display(), one_line_parse_error(&e.to_string()))),
            }
        }

        // Key path -> the variable or flag it came from. Those values are raw strings, which the
        // validation may read as numbers, booleans or lists; file values must have the right type.
        let mut origins = BTreeMap::new();
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        // The environment has no order; sorting makes the layering and the messages deterministic.
        env.sort();
        for (name, value) in env {
            let key = match env_key(&name) {
                EnvKey::NotOurs => continue,
                EnvKey::Invalid => {
                    errors.push(format!("{name}: not a valid configuration variable name"));
                    continue;
                }
                EnvKey::Path(key) => key,
            };
            // `KEY=` (as compose files produce for an unset substitution) means "not set".
            if value.trim().is_empty() {
                continue;
            }
            figment = figment.merge(Serialized::default(&key, value));
            origins.insert(key, name);
        }
        for (key, flag, value) in overrides.entries() {
            figment = figment.merge(Serialized::default(key, value));
            origins.insert(key.to_owned(), flag.to_owned());
        }

        let tree = match figment.extract::<serde_json::Value>() {
            Ok(tree) => tree,
            Err(e) => {
                errors.push(format!("configuration: {e}"));
                return Err(ConfigErrors(errors));
            }
        };
        build::build(&tree, &origins, errors)
    }

    /// The effective configuration as TOML, every secret shown as `"[redacted]"`, for
    /// `latchkey config check`.
    pub fn to_redacted_toml(&self) -> String {
        render::redacted_toml(self)
    }

    /// The issuer exactly as it appears in `iss` and the discovery document: no trailing slash,
    /// even for the bare root (OpenID Connect Discovery §4.3 compares issuers as exact strings).
    pub fn issuer_str(&self) -> &str {
        let s = self.issuer.as_str();
        s.strip_suffix('/').unwrap_or(s)
    }

    /// Settings that are valid but should be logged as warnings once logging is up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.issuer.scheme() == "http" {
            warnings.push(format!(
                "issuer {} uses http: fine for local development, but use https in production",
                self.issuer_str()
            ));
        }
        if self.keys.encryption_key.is_none() {
            warnings.push(format!(
                "keys.encryption_key is not set: a key-encryption key is generated and kept in {}; \
                 back it up with the database",
                self.data_dir.display()
            ));
        }
        for client in &self.clients {
            if client.allow_insecure_http {
                warnings.push(format!("client {}: allow_insecure_http is on", client.id));
            }
        }
        warnings
    }
}

enum EnvKey {
    NotOurs,
    Invalid,
    Path(String),
}

/// Maps `LATCHKEY_SESSION__IDLE_TIMEOUT` to `session.idle_timeout`.
fn env_key(name: &str) -> EnvKey {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
        return EnvKey::NotOurs;
    };
    if FOREIGN_ENV_PREFIXES.iter().any(|p| rest.starts_with(p)) {
        return EnvKey::NotOurs;
    }
    let segments: Vec<&str> = rest.split("__").collect();
    let valid = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !segments.iter().all(valid) {
        return EnvKey::Invalid;
    }
    EnvKey::Path(segments.join(".").to_ascii_lowercase())
}

/// Reads the configuration file: the `--config` file (which must exist) or the default file if
/// it exists. Problems are pushed to `errors`.
fn read_file(file: Option<&Path>, default_file: &Path, errors: &mut Vec<String>) -> Option<(PathBuf, String)> {
    let path = match file {
        Some(path) => {
            if !path.exists() {
                errors.push(format!("--config: file {:?} does not exist", path.display().to_string()));
                return None;
            }
            path
        }
        None if default_file.exists() => default_file,
        None => return None,
    };
    match std::fs::read_to_string(path) {
        Ok(contents) => Some((path.to_owned(), contents)),
        Err(e) => {
            errors.push(format!("{}: cannot read: {e}", path.display()));
            None
        }
    }
}

/// The TOML parser's message spans several lines and quotes the offending line of the file, which
/// may hold a secret. Keeps the position and the explanation on one line, without the quote.
fn one_line_parse_error(message: &str) -> String {
    let is_quote = |line: &str| {
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
        rest.starts_with('|')
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_quote(line) && *line != "in TOML source string")
        .map(|line| line.trim_end_matches(" in TOML source string"))
        .collect::<Vec<_>>()
        .join("; ")
}
