//! The demo's configuration: built-in defaults, then `config/demo-rp.toml` (or `--config FILE`),
//! then `LATCHKEY_DEMO_RP__<KEY>` environment variables, validated once into [`Config`].
//!
//! The defaults match the `demo-rp` client that the provider's own `config/latchkey.toml`
//! registers, so both programs work together on a fresh clone with no other step.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use serde::Deserialize;
use url::Url;

/// Read when `--config` is not given, relative to the working directory; missing is fine.
pub const DEFAULT_CONFIG_FILE: &str = "config/demo-rp.toml";

/// Environment variables starting with this are configuration: `LATCHKEY_DEMO_RP__CLIENT_SECRET`
/// is `client_secret`. The `__` mirrors the provider's nesting separator.
pub const ENV_PREFIX: &str = "LATCHKEY_DEMO_RP__";

/// The client secret the provider's `config/latchkey.toml` registers for `demo-rp`. It is
/// published in this repository, so it only protects a demo on your own machine: a real
/// deployment registers its client with `latchkey clients add` and sets the generated secret via
/// `LATCHKEY_DEMO_RP__CLIENT_SECRET`.
pub const LOCAL_DEMO_SECRET: &str = "demo-rp-local-secret-not-for-production-0123456789";

/// Every key the file or the environment may set.
const KEYS: [&str; 8] =
    ["issuer", "client_id", "client_secret", "listen", "public_url", "idle_timeout", "scopes", "log_level"];

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The provider's issuer identifier; discovery is fetched from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub listen: SocketAddr,
    /// Where browsers reach this app; the redirect URI is `<public_url>/callback`.
    pub public_url: Url,
    /// A session ends after this long without a request to a protected page.
    pub idle_timeout: Duration,
    pub scopes: Vec<String>,
    /// A `tracing` filter such as `info` or `info,latchkey_demo_rp=debug`.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        let url = |s: &str| Url::parse(s).unwrap_or_else(|_| unreachable!("a valid literal URL"));
        Self {
            issuer: url("http://127.0.0.1:8080"),
            client_id: "demo-rp".to_owned(),
            client_secret: Secret(LOCAL_DEMO_SECRET.to_owned()),
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            public_url: url("http://127.0.0.1:8081"),
            idle_timeout: Duration::from_secs(3600),
            scopes: ["openid", "profile", "email", "roles"].map(str::to_owned).to_vec(),
            log_level: "info".to_owned(),
        }
    }
}

impl Config {
    /// The issuer exactly as tokens name it: no trailing slash (`Url` always adds one to a bare host).
    pub fn issuer_str(&self) -> &str {
        self.issuer.as_str().trim_end_matches('/')
    }

    /// Where the provider sends the browser back with the code (registered on the provider).
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.public_url.as_str().trim_end_matches('/'))
    }

    /// Where the provider sends the browser after signing out (registered on the provider).
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/", self.public_url.as_str().trim_end_matches('/'))
    }

    /// Cookies get `Secure` and the `__Host-` prefix when the app is served over https.
    pub fn https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Loads the layers: defaults, the file (`file`, or [`DEFAULT_CONFIG_FILE`] when it exists),
    /// then the `LATCHKEY_DEMO_RP__*` variables among `env`. Every problem is reported at once.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigErrors> {
        Self::load_from(file, Path::new(DEFAULT_CONFIG_FILE), env)
    }

    fn load_from(
        file: Option<&Path>,
        default_file: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut figment = Figment::new();
        let path: Option<PathBuf> = match file {
            Some(path) if !path.is_file() => {
                errors.push(format!("{}: no such file", path.display()));
                None
            }
            Some(path) => Some(path.to_owned()),
            None => default_file.is_file().then(|| default_file.to_owned()),
        };
        if let Some(path) = &path {
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        // The environment has no order; sorting makes the messages deterministic.
        env.sort();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            let key = key.to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                errors.push(format!("{name}: unknown key `{key}` (known keys: {})", KEYS.join(", ")));
                continue;
            }
            // `KEY=` (as compose files produce for an unset substitution) means "not set".
            if !value.trim().is_empty() {
                figment = figment.merge(Serialized::default(&key, value));
            }
        }
        let raw: RawConfig = match figment.extract() {
            Ok(raw) => raw,
            Err(err) => {
                // figment names the key and where it came from ("... for key `x` in FILE").
                errors.extend(err.into_iter().map(|e| e.to_string()));
                return Err(ConfigErrors(errors));
            }
        };
        let config = raw.validate(&mut errors);
        if errors.is_empty() { Ok(config) } else { Err(ConfigErrors(errors)) }
    }

    /// The effective values as TOML-like lines, the secret redacted (for `--check`).
    pub fn describe(&self) -> String {
        format!(
            "issuer = {:?}\nclient_id = {:?}\nclient_secret = \"{:?}\"\nlisten = \"{}\"\npublic_url = {:?}\n\
             idle_timeout = \"{}\"\nscopes = {:?}\nlog_level = {:?}\n",
            self.issuer_str(),
            self.client_id,
            self.client_secret,
            self.listen,
            self.public_url.as_str().trim_end_matches('/'),
            humantime::format_duration(self.idle_timeout),
            self.scopes,
            self.log_level,
        )
    }

    /// Things worth a log line at start-up that are not errors.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.client_secret.expose() == LOCAL_DEMO_SECRET && !is_loopback(&self.public_url) {
            warnings.push(
                "client_secret is the published local demo value; register the client with \
                 `latchkey clients add` and set LATCHKEY_DEMO_RP__CLIENT_SECRET"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// A secret whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every problem found, one line each, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// What the file and the environment may say, before validation. Unknown keys are errors so that
/// a typo fails start-up instead of being ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    listen: Option<String>,
    public_url: Option<String>,
    idle_timeout: Option<DurationValue>,
    scopes: Option<Scopes>,
    log_level: Option<String>,
}

/// `"1h"`, `"30m"`, `"90s"` or a whole number of seconds (from a TOML integer or a variable).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

/// A TOML array, or one space-separated string (as an environment variable gives it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

impl RawConfig {
    fn validate(self, errors: &mut Vec<String>) -> Config {
        let mut config = Config::default();
        if let Some(issuer) = self.issuer {
            match parse_base_url(&issuer) {
                Ok(url) => config.issuer = url,
                Err(why) => errors.push(format!("issuer: {why}, got {issuer:?}")),
            }
        }
        if let Some(public_url) = self.public_url {
            match parse_base_url(&public_url) {
                Ok(url) => config.public_url = url,
                Err(why) => errors.push(format!("public_url: {why}, got {public_url:?}")),
            }
        }
        if let Some(id) = self.client_id {
            if id.trim().is_empty() || id.chars().any(char::is_control) {
                errors.push("client_id: must be a non-empty string without control characters".to_owned());
            } else {
                config.client_id = id;
            }
        }
        if let Some(secret) = self.client_secret {
            // The provider refuses shorter secrets for confidential clients; fail here, not at the first sign-in.
            if secret.chars().count() < 32 {
                errors.push(format!("client_secret: must be at least 32 characters, got {}", secret.chars().count()));
            } else {
                config.client_secret = Secret(secret);
            }
        }
        if let Some(listen) = self.listen {
            match listen.parse() {
                Ok(addr) => config.listen = addr,
                Err(_) => errors.push(format!("listen: expected an address such as 127.0.0.1:8081, got {listen:?}")),
            }
        }
        if let Some(idle) = self.idle_timeout {
            match parse_duration(&idle) {
                Ok(d) if d.is_zero() => errors.push("idle_timeout: must be longer than zero".to_owned()),
                Ok(d) => config.idle_timeout = d,
                Err(why) => errors.push(format!("idle_timeout: {why}")),
            }
        }
        if let Some(scopes) = self.scopes {
            let scopes: Vec<String> = match scopes {
                Scopes::List(list) => list,
                Scopes::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
            };
            if !scopes.iter().any(|s| s == "openid") {
                errors.push("scopes: must include \"openid\" (this is an OpenID Connect client)".to_owned());
            } else if let Some(bad) = scopes.iter().find(|s| s.is_empty() || !s.chars().all(is_scope_char)) {
                errors.push(format!("scopes: {bad:?} is not a valid scope (RFC 6749 §3.3)"));
            } else {
                config.scopes = scopes;
            }
        }
        if let Some(level) = self.log_level {
            match tracing_subscriber::EnvFilter::try_new(&level) {
                Ok(_) => config.log_level = level,
                Err(err) => errors.push(format!("log_level: {err}, got {level:?}")),
            }
        }
        config
    }
}

/// An absolute http(s) URL without query or fragment; a trailing slash is removed when it is
/// printed (see [`Config::issuer_str`]).
fn parse_base_url(value: &str) -> Result<Url, &'static str> {
    let url = Url::parse(value.trim_end_matches('/')).map_err(|_| "expected an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an absolute http(s) URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    Ok(url)
}

fn parse_duration(value: &DurationValue) -> Result<Duration, String> {
    match value {
        DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
        DurationValue::Text(text) => match text.trim().parse::<u64>() {
            Ok(s) => Ok(Duration::from_secs(s)),
            Err(_) => humantime::parse_duration(text.trim())
                .map_err(|e| format!("expected a duration such as \"1h\" or \"30m\", got {text:?} ({e})")),
        },
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo-rp.toml");
        if let Some(contents) = file {
            std::fs::write(&path, contents).unwrap();
        }
        Config::load_from(None, &path, env(vars))
    }

    #[test]
    fn defaults_match_the_providers_demo_client() {
        let config = load(None, &[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.issuer_str(), "http://127.0.0.1:8080");
        assert_eq!(config.client_id, "demo-rp");
        assert_eq!(config.client_secret.expose(), LOCAL_DEMO_SECRET);
        assert_eq!(config.redirect_uri(), "http://127.0.0.1:8081/callback");
        assert_eq!(config.post_logout_redirect_uri(), "http://127.0.0.1:8081/");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(config.scopes, ["openid", "profile", "email", "roles"]);
    }

    #[test]
    fn idle_timeout_default_is_exactly_one_hour() {
        assert_eq!(Config::default().idle_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn the_repositorys_file_equals_the_defaults() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-rp.toml");
        let config = Config::load_from(Some(Path::new(file)), Path::new("/nonexistent"), Vec::new()).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn the_provider_registers_the_same_demo_client() {
        let provider = include_str!("../../../config/latchkey.toml");
        let config = Config::default();
        assert!(provider.contains(&format!("id = \"{}\"", config.client_id)));
        assert!(provider.contains(&format!("secret = \"{}\"", config.client_secret.expose())));
        assert!(provider.contains(&format!("redirect_uris = [\"{}\"]", config.redirect_uri())));
        assert!(provider.contains(&format!("post_logout_redirect_uris = [\"{}\"]", config.post_logout_redirect_uri())));
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            Some("issuer = \"https://id.example.com/\"\nidle_timeout = 120\nscopes = [\"openid\"]"),
            &[
                ("LATCHKEY_DEMO_RP__ISSUER", "https://login.example.org"),
                ("LATCHKEY_DEMO_RP__IDLE_TIMEOUT", "5m"),
                ("LATCHKEY_DEMO_RP__SCOPES", "openid email"),
                ("LATCHKEY_DEMO_RP__CLIENT_SECRET", "another-secret-that-is-long-enough-1234"),
                ("LATCHKEY_DEMO_RP__PUBLIC_URL", "https://rp.example.org"),
                ("LATCHKEY_DEMO_RP__LISTEN", "0.0.0.0:9000"),
                // Someone else's variables are not ours to judge.
                ("LATCHKEY_ISSUER", "whatever"),
                ("PATH", "/bin"),
            ],
        )
        .unwrap();
        assert_eq!(config.issuer_str(), "https://login.example.org");
        assert_eq!(config.idle_timeout, Duration::from_secs(300));
        assert_eq!(config.scopes, ["openid", "email"]);
        assert_eq!(config.client_secret.expose(), "another-secret-that-is-long-enough-1234");
        assert_eq!(config.redirect_uri(), "https://rp.example.org/callback");
        assert!(config.https());
        assert_eq!(config.listen.port(), 9000);

        let file_only = load(Some("idle_timeout = 120"), &[]).unwrap();
        assert_eq!(file_only.idle_timeout, Duration::from_secs(120));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = load(None, &[("LATCHKEY_DEMO_RP__ISUER", "x")]).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.0[0].starts_with("LATCHKEY_DEMO_RP__ISUER: unknown key `isuer`"), "{err}");

        let err = load(Some("isuer = \"http://x\""), &[]).unwrap_err();
        assert!(err.to_string().contains("isuer"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = load(
            None,
            &[
                ("LATCHKEY_DEMO_RP__ISSUER", "not a url"),
                ("LATCHKEY_DEMO_RP__PUBLIC_URL", "ftp://x"),
                ("LATCHKEY_DEMO_RP__CLIENT_SECRET", "short"),
                ("LATCHKEY_DEMO_RP__LISTEN", "localhost"),
                ("LATCHKEY_DEMO_RP__IDLE_TIMEOUT", "soon"),
                ("LATCHKEY_DEMO_RP__SCOPES", "profile email"),
                ("LATCHKEY_DEMO_RP__LOG_LEVEL", "info,[["),
            ],
        )
        .unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            ["issuer", "public_url", "client_secret", "listen", "idle_timeout", "scopes", "log_level"],
            "{err}"
        );
        // The secret's value never appears in a message.
        assert!(!err.to_string().contains("short\""), "{err}");
    }

    #[test]
    fn an_explicit_file_must_exist() {
        let err = Config::load_from(Some(Path::new("/no/such/demo.toml")), Path::new("/x"), Vec::new()).unwrap_err();
        assert_eq!(err.0, ["/no/such/demo.toml: no such file"]);
    }

    #[test]
    fn the_secret_is_redacted_in_debug_and_describe() {
        let config = Config::default();
        assert!(!format!("{config:?}").contains(LOCAL_DEMO_SECRET));
        assert!(!config.describe().contains(LOCAL_DEMO_SECRET));
        assert!(config.describe().contains("client_secret = \"[redacted]\""), "{}", config.describe());
    }

    #[test]
    fn the_published_secret_is_flagged_off_loopback() {
        assert!(Config::default().warnings().is_empty());
        let config = Config { public_url: Url::parse("https://rp.example.com").unwrap(), ..Config::default() };
        assert_eq!(config.warnings().len(), 1);
    }
}
