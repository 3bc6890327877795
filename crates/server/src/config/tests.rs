#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use super::*;

const DEMO_SECRET: &str = "demo-rp-local-secret-not-for-production-0123456789";

/// Loads `toml` as the `--config` file, with `env` as the whole process environment.
fn load_with(toml: &str, env: &[(&str, &str)], cli: &CliOverrides) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latchkey.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(Some(&path), env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())), cli)
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    load_with(toml, env, &CliOverrides::default())
}

fn errors(toml: &str, env: &[(&str, &str)]) -> Vec<String> {
    match load(toml, env) {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(e) => e.0,
    }
}

fn no_file() -> &'static Path {
    Path::new("/nonexistent/latchkey-config-test/latchkey.toml")
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let config = Config::load_with_default_file(None, no_file(), Vec::new(), &CliOverrides::default()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.issuer_str(), "http://127.0.0.1:8080");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.data_dir, Path::new("./data"));
    assert_eq!(config.database.url.expose(), "sqlite://./data/latchkey.db?mode=rwc");
    assert_eq!(config.database.max_connections, 10);
    assert_eq!(config.database.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.log, LogConfig { format: LogFormat::Pretty, level: "info".into() });
    assert_eq!(config.session.absolute_timeout, Duration::from_secs(12 * 3600));
    assert_eq!(config.session.remember_me_lifetime, Duration::from_secs(30 * 86_400));
    assert_eq!(config.session.remember_me_idle_timeout, Duration::from_secs(7 * 86_400));
    assert_eq!(config.session.touch_interval, Duration::from_secs(60));
    assert_eq!(config.tls, None);
    assert!(config.trusted_proxies.is_empty() && config.clients.is_empty());
    assert_eq!(config.keys.encryption_key, None);
    assert_eq!(config.keys.rotation_interval, Duration::from_secs(30 * 86_400));
    assert_eq!(config.keys.refresh_interval, Duration::from_secs(60));
    assert_eq!(config.http.body_limit, 65_536);
    assert_eq!(config.http.request_timeout, Duration::from_secs(30));
    assert_eq!(config.http.shutdown_grace, Duration::from_secs(30));
    let p = &config.passwords;
    assert_eq!(
        (p.min_length, p.argon2_memory_kib, p.argon2_iterations, p.argon2_parallelism, p.max_concurrent_hashes),
        (15, 19_456, 2, 1, 0)
    );
    assert_eq!(p.hash_queue_timeout, Duration::from_secs(2));
    assert_eq!(p.hash_concurrency(), std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
}

#[test]
fn session_idle_timeout_defaults_to_exactly_one_hour() {
    let config = load("", &[]).unwrap();
    assert_eq!(config.session.idle_timeout, Duration::from_secs(3600));
    assert_eq!(Config::default().session.idle_timeout, Duration::from_secs(3600));
}

#[test]
fn missing_default_file_is_fine_but_missing_config_flag_file_is_an_error() {
    assert!(Config::load_with_default_file(None, no_file(), Vec::new(), &CliOverrides::default()).is_ok());
    let err = Config::load(Some(no_file()), Vec::new(), &CliOverrides::default()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].starts_with("--config: file") && err.0[0].contains("does not exist"), "{err}");
}

#[test]
fn default_database_url_follows_data_dir() {
    let config = load("data_dir = \"/var/lib/latchkey\"", &[]).unwrap();
    assert_eq!(config.database.url.expose(), "sqlite:///var/lib/latchkey/latchkey.db?mode=rwc");
    let config = load("data_dir = \"./odd?dir#x\"", &[]).unwrap();
    assert_eq!(config.database.url.expose(), "sqlite://./odd%3Fdir%23x/latchkey.db?mode=rwc");
}

#[test]
fn each_layer_overrides_the_one_before() {
    let file =
        "listen = \"0.0.0.0:1000\"\n[log]\nlevel = \"warn\"\nformat = \"json\"\n[database]\nurl = \"sqlite://file.db\"";
    let env = [
        ("LATCHKEY_LISTEN", "0.0.0.0:2000"),
        ("LATCHKEY_LOG__LEVEL", "debug"),
        ("LATCHKEY_DATABASE__URL", "sqlite://env.db"),
    ];
    let cli = CliOverrides {
        listen: Some("0.0.0.0:3000".into()),
        issuer: Some("https://cli.example".into()),
        database_url: Some("postgres://u:p@db/cli".into()),
        log_level: Some("trace".into()),
        log_format: Some("pretty".into()),
    };
    let none: &[(&str, &str)] = &[];
    let no_flags = CliOverrides::default();
    // Each row adds one layer; the expected values are (listen, log level, log format, database url).
    let cases = [
        ("", none, &no_flags, ("127.0.0.1:8080", "info", LogFormat::Pretty, "sqlite://./data/latchkey.db?mode=rwc")),
        (file, none, &no_flags, ("0.0.0.0:1000", "warn", LogFormat::Json, "sqlite://file.db")),
        (file, &env[..], &no_flags, ("0.0.0.0:2000", "debug", LogFormat::Json, "sqlite://env.db")),
        (file, &env[..], &cli, ("0.0.0.0:3000", "trace", LogFormat::Pretty, "postgres://u:p@db/cli")),
    ];
    for (file, env, cli, (listen, level, format, url)) in cases {
        let config = load_with(file, env, cli).unwrap();
        assert_eq!(config.listen.to_string(), listen, "{file} {env:?} {cli:?}");
        assert_eq!(config.log.level, level);
        assert_eq!(config.log.format, format);
        assert_eq!(config.database.url.expose(), url);
    }
    assert_eq!(load_with(file, &env, &cli).unwrap().issuer_str(), "https://cli.example");
}

#[test]
fn environment_variables_nest_and_parse() {
    let env = [
        ("LATCHKEY_SESSION__IDLE_TIMEOUT", "30m"),
        ("LATCHKEY_SESSION__TOUCH_INTERVAL", "30"),
        ("LATCHKEY_DATABASE__MAX_CONNECTIONS", "20"),
        ("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.0/16, 127.0.0.1"),
        ("LATCHKEY_HTTP__BODY_LIMIT", "1MiB"),
        ("LATCHKEY_PASSWORDS__MIN_LENGTH", "12"),
        ("LATCHKEY_KEYS__ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("LATCHKEY_KEYS__REFRESH_INTERVAL", "1s"),
        // Not ours, and not configuration at all.
        ("LATCHKEY_TEST_POSTGRES_URL", "postgres://x"),
        ("LATCHKEY_DEMO_RP__ISSUER", "nonsense"),
        ("PATH", "/usr/bin"),
        // Empty means unset.
        ("LATCHKEY_ISSUER", ""),
    ];
    let config = load("", &env).unwrap();
    assert_eq!(config.session.idle_timeout, Duration::from_secs(1800));
    assert_eq!(config.session.touch_interval, Duration::from_secs(30));
    assert_eq!(config.database.max_connections, 20);
    let proxies: Vec<String> = config.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(proxies, ["10.0.0.0/8", "192.168.0.0/16", "127.0.0.1/32"]);
    assert_eq!(config.http.body_limit, 1024 * 1024);
    assert_eq!(config.passwords.min_length, 12);
    let expected_key: Vec<u8> = (0u8..32).collect();
    assert_eq!(config.keys.encryption_key_bytes().map(Vec::from), Some(expected_key));
    assert_eq!(config.keys.refresh_interval, Duration::from_secs(1));
    assert_eq!(config.issuer_str(), "http://127.0.0.1:8080");
}

#[test]
fn environment_lists_accept_several_spellings() {
    for raw in ["10.0.0.0/8,::1", "[10.0.0.0/8, ::1]", "[\"10.0.0.0/8\", \"::1\"]", "10.0.0.0/8, ::1,"] {
        let config = load("", &[("LATCHKEY_TRUSTED_PROXIES", raw)]).unwrap();
        let proxies: Vec<String> = config.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "::1/128"], "{raw}");
    }
    let config = load("trusted_proxies = [\"10.0.0.0/8\"]", &[("LATCHKEY_TRUSTED_PROXIES", "[]")]).unwrap();
    assert!(config.trusted_proxies.is_empty());
}

#[test]
fn values_in_the_file_parse() {
    let toml = r#"
        issuer = "https://id.example.com/auth/"
        [session]
        idle_timeout = 1800
        absolute_timeout = "1h 30m"
        remember_me_lifetime = "60days"
        [http]
        body_limit = "64KiB"
        shutdown_grace = 0
        [tls]
        [tokens]
        refresh_reuse_grace = 0
        refresh_token_idle_lifetime = "7days"
        refresh_token_absolute_lifetime = "7days"
        first_party_refresh_tokens = true
    "#;
    let config = load(toml, &[]).unwrap();
    assert_eq!(config.issuer.as_str(), "https://id.example.com/auth");
    assert_eq!(config.issuer_str(), "https://id.example.com/auth");
    assert_eq!(config.session.idle_timeout, Duration::from_secs(1800));
    assert_eq!(config.session.absolute_timeout, Duration::from_secs(5400));
    assert_eq!(config.session.remember_me_lifetime, Duration::from_secs(60 * 86_400));
    assert_eq!(config.http.body_limit, 65_536);
    assert_eq!(config.http.shutdown_grace, Duration::ZERO);
    assert_eq!(config.tls, None);
    let t = &config.tokens;
    assert_eq!(t.refresh_reuse_grace, Duration::ZERO, "zero grace: every reuse revokes");
    assert_eq!(t.refresh_token_idle_lifetime, Duration::from_secs(7 * 86_400));
    assert_eq!(t.refresh_token_absolute_lifetime, Duration::from_secs(7 * 86_400), "idle may equal absolute");
    assert!(t.first_party_refresh_tokens);
    assert_eq!(load("issuer = \"https://id.example.com/\"", &[]).unwrap().issuer_str(), "https://id.example.com");
}

#[test]
fn tls_files_must_exist_and_come_in_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "cert").unwrap();
    std::fs::write(&key, "key").unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let missing = dir.path().join("missing.pem").display().to_string();

    let both = format!("[tls]\ncert = {cert:?}\nkey = {key:?}");
    let tls = load(&both, &[]).unwrap().tls.unwrap();
    assert_eq!((tls.cert.display().to_string(), tls.key.display().to_string()), (cert.clone(), key.clone()));

    let cases = [
        (format!("[tls]\ncert = {cert:?}"), "tls.key: required when tls.cert is set"),
        (format!("[tls]\nkey = {key:?}"), "tls.cert: required when tls.key is set"),
        (format!("[tls]\ncert = {missing:?}\nkey = {key:?}"), "tls.cert: cannot read"),
    ];
    for (toml, expected) in cases {
        let errs = errors(&toml, &[]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with(expected), "{errs:?}");
    }
}

/// One rule per row: the file, then the start of the single message it must produce.
#[test]
fn each_rule_is_reported_with_its_key() {
    let cases: &[(&str, &str)] = &[
        ("issuer = \"foo\"", r#"issuer: must be an absolute http(s) URL without query or fragment, got "foo""#),
        ("issuer = \"https://a.example/?x=1\"", "issuer: must be an absolute http(s) URL"),
        ("issuer = \"https://a.example/#f\"", "issuer: must be an absolute http(s) URL"),
        ("issuer = \"https://a.example/?\"", "issuer: must be an absolute http(s) URL"),
        ("issuer = \"ftp://a.example/\"", "issuer: must be an absolute http(s) URL"),
        ("issuer = \"https://u:p@a.example/\"", "issuer: must not contain user information"),
        ("issuer = 5", "issuer: expected a string, got number 5"),
        ("listen = \"localhost:80\"", "listen: must be an IP address and port"),
        ("data_dir = \"\"", "data_dir: must not be empty"),
        (
            "[database]\nurl = \"mysql://u:pw@h/db\"",
            r#"database.url: must use the sqlite:, postgres: or postgresql: scheme, got "mysql""#,
        ),
        (
            "[database]\nurl = \"no scheme\"",
            "database.url: must be a URL with the sqlite:, postgres: or postgresql: scheme",
        ),
        ("[database]\nmax_connections = 0", "database.max_connections: must be between 1 and 1000, got 0"),
        ("[database]\nmax_connections = 1001", "database.max_connections: must be between 1 and 1000, got 1001"),
        ("[database]\nmax_connections = -1", "database.max_connections: must not be negative, got -1"),
        (
            "[database]\nmax_connections = \"10\"",
            r#"database.max_connections: expected a whole number, got string "10""#,
        ),
        ("[database]\nmax_connections = 1.5", "database.max_connections: expected a whole number, got number 1.5"),
        ("[database]\nconnect_timeout = \"0s\"", "database.connect_timeout: must be greater than zero"),
        ("[log]\nformat = \"xml\"", r#"log.format: must be "pretty" or "json", got "xml""#),
        ("[log]\nlevel = \"info,latchkey=loud\"", "log.level: must be a log filter"),
        ("[log]\nlevel = \"\"", "log.level: must not be empty"),
        ("log = \"debug\"", r#"log: expected a table, got string "debug""#),
        ("[session]\nidle_timeout = 0", "session.idle_timeout: must be greater than zero"),
        ("[session]\nidle_timeout = \"soon\"", "session.idle_timeout: expected a duration such as"),
        ("[session]\nidle_timeout = true", "session.idle_timeout: expected a duration such as"),
        (
            "[session]\nidle_timeout = \"13h\"",
            "session.idle_timeout: must not be longer than session.absolute_timeout (13h > 12h)",
        ),
        (
            "[session]\nremember_me_idle_timeout = \"31days\"",
            "session.remember_me_idle_timeout: must not be longer than session.remember_me_lifetime",
        ),
        ("[session]\ntouch_interval = \"1h\"", "session.touch_interval: must be shorter than session.idle_timeout"),
        ("[session]\nabsolute_timeout = \"0s\"", "session.absolute_timeout: must be greater than zero"),
        (
            "trusted_proxies = [\"10.0.0.0/8\", \"nope\"]",
            r#"trusted_proxies[1]: must be an IP address or CIDR block such as 10.0.0.0/8, got "nope""#,
        ),
        ("trusted_proxies = \"10.0.0.0/8\"", "trusted_proxies: expected an array of strings"),
        ("trusted_proxies = [1]", "trusted_proxies[0]: expected a string, got number 1"),
        (
            "[keys]\nencryption_key = \"c2hvcnQ=\"",
            "keys.encryption_key: must be base64 of exactly 32 bytes (openssl rand -base64 32), got 5 bytes",
        ),
        ("[keys]\nencryption_key = \"%%%\"", "keys.encryption_key: must be base64 of 32 random bytes"),
        ("[keys]\nrotation_interval = 0", "keys.rotation_interval: must be greater than zero"),
        ("[keys]\nrefresh_interval = 0", "keys.refresh_interval: must be between 1s and 1h, got 0s"),
        ("[keys]\nrefresh_interval = \"2h\"", "keys.refresh_interval: must be between 1s and 1h, got 2h"),
        ("[http]\nbody_limit = \"12 parsecs\"", "http.body_limit: expected a size in bytes"),
        ("[http]\nbody_limit = 100", "http.body_limit: must be between 1KiB and 64MiB, got 100 bytes"),
        ("[http]\nrequest_timeout = 0", "http.request_timeout: must be greater than zero"),
        ("[passwords]\nmin_length = 7", "passwords.min_length: must be between 8 and 64, got 7"),
        ("[passwords]\nmin_length = 65", "passwords.min_length: must be between 8 and 64, got 65"),
        ("[passwords]\nargon2_iterations = 0", "passwords.argon2_iterations: must be between 1 and 100, got 0"),
        ("[passwords]\nargon2_parallelism = 0", "passwords.argon2_parallelism: must be between 1 and 64, got 0"),
        (
            "[passwords]\nargon2_memory_kib = 8\nargon2_parallelism = 2",
            "passwords.argon2_memory_kib: must be at least 8 × passwords.argon2_parallelism (16), got 8",
        ),
        ("[passwords]\nmax_concurrent_hashes = 5000", "passwords.max_concurrent_hashes: must be between 0 and 1024"),
        ("[passwords]\nhash_queue_timeout = 0", "passwords.hash_queue_timeout: must be greater than zero"),
        ("clients = \"demo\"", "clients: expected an array of tables ([[clients]] in the file)"),
        ("[http]\nshutdown_grace = \"later\"", "http.shutdown_grace: expected a duration such as"),
        ("[tokens]\nrefresh_reuse_grace = \"61s\"", "tokens.refresh_reuse_grace: must be at most 1 minute"),
        ("[tokens]\nrefresh_reuse_grace = \"soon\"", "tokens.refresh_reuse_grace: expected a duration such as"),
        ("[tokens]\nrefresh_token_idle_lifetime = 0", "tokens.refresh_token_idle_lifetime: must be greater than zero"),
        (
            "[tokens]\nrefresh_token_absolute_lifetime = \"0s\"",
            "tokens.refresh_token_absolute_lifetime: must be greater than zero",
        ),
        (
            "[tokens]\nrefresh_token_idle_lifetime = \"91days\"",
            "tokens.refresh_token_idle_lifetime: must not be longer than tokens.refresh_token_absolute_lifetime",
        ),
        (
            "[tokens]\nfirst_party_refresh_tokens = \"yes\"",
            r#"tokens.first_party_refresh_tokens: expected true or false, got string "yes""#,
        ),
        ("[tokens]\nrefresh_grace = \"5s\"", "tokens.refresh_grace: unknown key"),
    ];
    for (toml, expected) in cases {
        let errs = errors(toml, &[]);
        assert_eq!(errs.len(), 1, "{toml}: {errs:?}");
        assert!(errs[0].starts_with(expected), "{toml}:\n  got      {}\n  expected {expected}", errs[0]);
    }
}

/// One `[[clients]]` table holding `fields`.
fn client(fields: &str) -> String {
    format!("[[clients]]\n{fields}\n")
}

#[test]
fn client_rules_are_reported_with_their_key() {
    let ok = format!("id = \"app\"\nsecret = \"{DEMO_SECRET}\"\nredirect_uris = [\"https://app.example/cb\"]");
    let cases: Vec<(String, &str)> = vec![
        (client(&ok.replace("\"app\"", "\"has space\"")), "clients[0].id: client id \"has space\" may contain only"),
        (client(&ok.replace("id = \"app\"\n", "")), "clients[0].id: required"),
        (
            client(&ok.replace("[\"https://app.example/cb\"]", "[]")),
            "clients[0].redirect_uris: at least one redirect URI is required",
        ),
        (
            client(&ok.replace("https://app.example/cb", "http://app.example/cb")),
            "clients[0].redirect_uris[0]: \"http://app.example/cb\" uses http on a non-loopback host",
        ),
        (
            client(&ok.replace("https://app.example/cb", "https://app.example/cb#frag")),
            "clients[0].redirect_uris[0]: \"https://app.example/cb#frag\" has a fragment",
        ),
        (
            client(&format!("{ok}\npost_logout_redirect_uris = [\"javascript:alert(1)\"]")),
            "clients[0].post_logout_redirect_uris[0]: \"javascript:alert(1)\" uses a scheme",
        ),
        (
            client(&ok.replace(&format!("secret = \"{DEMO_SECRET}\"\n"), "")),
            "clients[0].secret: required for a confidential client",
        ),
        (client(&ok.replace(DEMO_SECRET, "too-short")), "clients[0].secret: must be at least 32 characters, got 9"),
        (client(&format!("{ok}\npublic = true")), "clients[0].secret: a public client must not have a secret"),
        (
            client(&format!("{ok}\nscopes = [\"openid\", \"a b\"]")),
            "clients[0].scopes[1]: \"a b\" is not a valid scope",
        ),
        (
            client(&format!("{ok}\ngrants = [\"authorization_code\", \"password\"]")),
            "clients[0].grants[1]: unknown grant type \"password\"",
        ),
        (client(&format!("{ok}\ngrants = []")), "clients[0].grants: at least one grant type is required"),
        (client(&format!("{ok}\npublic = \"yes\"")), "clients[0].public: expected true or false, got string \"yes\""),
        (client(&format!("{ok}\ncolour = \"blue\"")), "clients[0].colour: unknown key"),
        (
            client(
                "id = \"spa\"\npublic = true\nredirect_uris = [\"https://spa.example/cb\"]\n\
                 grants = [\"client_credentials\"]",
            ),
            "clients[0].grants: client_credentials is not allowed for a public client",
        ),
        (format!("{}{}", client(&ok), client(&ok)), "clients[1].id: duplicate client id \"app\" (also clients[0])"),
    ];
    for (toml, expected) in cases {
        let errs = errors(&toml, &[]);
        assert_eq!(errs.len(), 1, "{toml}: {errs:?}");
        assert!(errs[0].starts_with(expected), "{toml}:\n  got      {}\n  expected {expected}", errs[0]);
    }
}

#[test]
fn valid_clients_get_defaults() {
    let toml = format!(
        "{}{}{}",
        client(&format!("id = \"app\"\nsecret = \"{DEMO_SECRET}\"\nredirect_uris = [\"https://app.example/cb\"]")),
        client("id = \"spa\"\npublic = true\nfirst_party = true\nredirect_uris = [\"http://127.0.0.1:5173/cb\"]"),
        client(&format!(
            "id = \"svc\"\nsecret = \"{DEMO_SECRET}\"\ngrants = [\"client_credentials\"]\nscopes = [\"api:read\"]"
        )),
    );
    let config = load(&toml, &[]).unwrap();
    let [app, spa, svc] = &config.clients[..] else { panic!("{:?}", config.clients) };
    assert_eq!(app.scopes, ["openid", "profile", "email", "offline_access"]);
    assert_eq!(app.grants, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    assert!(!app.public && !app.first_party && !app.allow_insecure_http);
    assert_eq!(app.secret.as_ref().map(Secret::expose), Some(DEMO_SECRET));
    assert!(spa.public && spa.first_party && spa.secret.is_none());
    // A client_credentials-only client has no use for redirect URIs.
    assert!(svc.redirect_uris.is_empty());
    assert_eq!(svc.grants, [GrantType::ClientCredentials]);

    let insecure = client(&format!(
        "id = \"lan\"\nsecret = \"{DEMO_SECRET}\"\nallow_insecure_http = true\nredirect_uris = [\"http://app.lan/cb\"]"
    ));
    assert!(load(&insecure, &[]).unwrap().clients[0].allow_insecure_http);
}

#[test]
fn unknown_keys_are_errors_in_the_file_and_the_environment() {
    let errs = errors("colour = \"blue\"\n[session]\nidel_timeout = \"1h\"", &[]);
    assert_eq!(errs, ["colour: unknown key", "session.idel_timeout: unknown key"]);

    let cases = [
        ("LATCHKEY_SESSION__IDEL_TIMEOUT", "session.idel_timeout: unknown key (from LATCHKEY_SESSION__IDEL_TIMEOUT)"),
        ("LATCHKEY_COLOUR", "colour: unknown key (from LATCHKEY_COLOUR)"),
        // Only `LATCHKEY_DEMO_RP__` belongs to the demo relying party.
        ("LATCHKEY_DEMO_RP_ISSUER", "demo_rp_issuer: unknown key (from LATCHKEY_DEMO_RP_ISSUER)"),
        ("LATCHKEY_LOG_LEVEL", "log_level: unknown key (from LATCHKEY_LOG_LEVEL)"),
        ("LATCHKEY_SESSION____IDLE", "LATCHKEY_SESSION____IDLE: not a valid configuration variable name"),
    ];
    for (name, expected) in cases {
        assert_eq!(errors("", &[(name, "1")]), [expected]);
    }
}

#[test]
fn foreign_environment_variables_are_ignored() {
    let env = [
        ("LATCHKEY_TEST_POSTGRES_URL", "postgres://u:p@localhost/test"),
        ("LATCHKEY_TEST_ANYTHING__AT_ALL", "x"),
        ("LATCHKEY_DEMO_RP__CLIENT_SECRET", "x"),
        ("latchkey_issuer", "lowercase is not ours"),
        ("HOME", "/root"),
    ];
    assert_eq!(load("", &env).unwrap(), Config::default());
}

#[test]
fn environment_values_are_type_checked_with_the_variable_named() {
    let errs = errors("", &[("LATCHKEY_DATABASE__MAX_CONNECTIONS", "many"), ("LATCHKEY_SESSION__IDLE_TIMEOUT", "0")]);
    assert_eq!(
        errs,
        [
            "database.max_connections: expected a whole number, got \"many\" \
             (from LATCHKEY_DATABASE__MAX_CONNECTIONS)",
            "session.idle_timeout: must be greater than zero (from LATCHKEY_SESSION__IDLE_TIMEOUT)",
        ]
    );
    let errs = errors("", &[("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8,bogus")]);
    assert_eq!(
        errs,
        ["trusted_proxies[1]: must be an IP address or CIDR block such as 10.0.0.0/8, got \"bogus\" \
             (from LATCHKEY_TRUSTED_PROXIES)"]
    );
    let cli = CliOverrides { listen: Some("nowhere".into()), ..CliOverrides::default() };
    let errs = load_with("", &[], &cli).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("listen: must be an IP address") && errs[0].ends_with("(from --listen)"), "{errs:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = format!(
        "issuer = \"foo\"\nlisten = 8080\n[session]\nidel_timeout = \"1h\"\nabsolute_timeout = \"never\"\n{}",
        client("id = \"bad id\"\nredirect_uris = [\"http://evil.example/cb\"]")
    );
    let err = load(&toml, &[("LATCHKEY_HTTP__BODY_LIMT", "1")]).unwrap_err();
    let expected = [
        "issuer: must be an absolute http(s) URL",
        "listen: expected a string, got number 8080",
        "session.idel_timeout: unknown key",
        "session.absolute_timeout: expected a duration",
        "http.body_limt: unknown key (from LATCHKEY_HTTP__BODY_LIMT)",
        "clients[0].id: client id \"bad id\" may contain only",
        "clients[0].redirect_uris[0]: \"http://evil.example/cb\" uses http",
        "clients[0].secret: required for a confidential client",
    ];
    for e in expected {
        assert!(err.0.iter().any(|m| m.starts_with(e)), "missing {e:?} in\n{err}");
    }
    assert_eq!(err.0.len(), expected.len(), "{err}");
    assert_eq!(err.to_string().lines().count(), expected.len());
}

#[test]
fn a_syntax_error_names_the_file_and_other_layers_are_still_checked() {
    let err = load("[session\nidle_timeout = 1", &[("LATCHKEY_COLOUR", "x")]).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(err.0[0].contains("latchkey.toml: TOML parse error at line 1, column 9; "), "{err}");
    assert!(!err.0[0].contains("[session"), "the offending line is not quoted: {err}");
    assert_eq!(err.0[1], "colour: unknown key (from LATCHKEY_COLOUR)");
}

#[test]
fn secrets_never_appear_in_debug_output_messages_or_the_redacted_toml() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let toml = format!(
        "[keys]\nencryption_key = \"{key}\"\n{}",
        client(&format!("id = \"app\"\nsecret = \"{DEMO_SECRET}\"\nredirect_uris = [\"https://app.example/cb\"]"))
    );
    let db = "postgres://latchkey:hunter2-db-password@db.internal/latchkey";
    let config = load(&toml, &[("LATCHKEY_DATABASE__URL", db)]).unwrap();
    let debug = format!("{config:?}");
    let rendered = config.to_redacted_toml();
    let flags = format!("{:?}", CliOverrides { database_url: Some(db.to_owned()), ..CliOverrides::default() });
    assert!(flags.contains("[redacted]"), "{flags}");
    for (what, text) in [("Debug", &debug), ("to_redacted_toml", &rendered), ("CliOverrides Debug", &flags)] {
        for secret in ["hunter2-db-password", "db.internal", DEMO_SECRET, key] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    assert!(rendered.contains("url = \"[redacted]\"  # scheme: postgres"), "{rendered}");
    assert!(rendered.contains("secret = \"[redacted]\""), "{rendered}");
    assert!(rendered.contains("encryption_key = \"[redacted]\""), "{rendered}");

    // Type errors and rule violations on secrets name the key but never echo the value.
    let cases = [
        "[keys]\nencryption_key = \"c2VjcmV0LXZhbHVl\"".to_owned(),
        "[database]\nurl = \"mysql://root:c2VjcmV0LXZhbHVl@db/x\"".to_owned(),
        client("id = \"app\"\nsecret = 1234567890123\nredirect_uris = [\"https://app.example/cb\"]"),
        client("id = \"app\"\nsecret = \"c2VjcmV0LXZhbHVl\"\nredirect_uris = [\"https://app.example/cb\"]"),
    ];
    for toml in cases {
        let message = errors(&toml, &[]).join("\n");
        assert!(!message.contains("c2VjcmV0LXZhbHVl") && !message.contains("1234567890123"), "{message}");
    }
}

#[test]
fn redacted_toml_is_valid_toml_with_the_effective_values() {
    let toml = format!(
        "trusted_proxies = [\"10.0.0.0/8\"]\n{}",
        client(&format!(
            "id = \"app\"\nname = \"Say \\\"hi\\\"\"\nsecret = \"{DEMO_SECRET}\"\n\
             redirect_uris = [\"https://app.example/cb\"]"
        ))
    );
    let config = load(&toml, &[("LATCHKEY_SESSION__IDLE_TIMEOUT", "90m")]).unwrap();
    let rendered = config.to_redacted_toml();
    let tree: serde_json::Value = figment::Figment::from(Toml::string(&rendered)).extract().unwrap();
    assert_eq!(tree["issuer"], "http://127.0.0.1:8080");
    assert_eq!(tree["session"]["idle_timeout"], "1h 30m");
    assert_eq!(tree["session"]["remember_me_lifetime"], "30days");
    assert_eq!(tree["http"]["body_limit"], 65_536);
    assert_eq!(tree["trusted_proxies"][0], "10.0.0.0/8");
    assert_eq!(tree["clients"][0]["name"], "Say \"hi\"");
    assert_eq!(tree["clients"][0]["grants"][1], "refresh_token");
    assert_eq!(tree["clients"][0]["secret"], "[redacted]");
    // Durations are written so that they read back to the same value.
    let reread = load(&format!("[session]\nidle_timeout = {}", render_idle(&rendered)), &[]).unwrap();
    assert_eq!(reread.session.idle_timeout, Duration::from_secs(5400));
}

fn render_idle(rendered: &str) -> &str {
    rendered.lines().find_map(|l| l.strip_prefix("idle_timeout = ")).unwrap()
}

#[test]
fn warnings_flag_plain_http_and_a_generated_key() {
    let warnings = Config::default().warnings();
    assert!(warnings.iter().any(|w| w.contains("uses http")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("keys.encryption_key is not set")), "{warnings:?}");
    let config = load(
        "issuer = \"https://id.example\"\n[keys]\nencryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"",
        &[],
    )
    .unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_repository_config_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/latchkey.toml");
    let config = Config::load(Some(&path), Vec::new(), &CliOverrides::default()).unwrap();
    let demo = config.clients.iter().find(|c| c.id == "demo-rp").unwrap();
    assert_eq!(demo.name.as_deref(), Some("Latchkey demo"));
    assert_eq!(demo.secret.as_ref().map(Secret::expose), Some(DEMO_SECRET));
    assert_eq!(demo.redirect_uris, ["http://127.0.0.1:8081/callback"]);
    assert_eq!(demo.post_logout_redirect_uris, ["http://127.0.0.1:8081/"]);
    assert_eq!(demo.scopes, ["openid", "profile", "email", "roles", "offline_access"]);
    assert!(!demo.public);
    // Everything else in the file is a commented default, so apart from the client it is the default.
    assert_eq!(Config { clients: Vec::new(), ..config }, Config::default());
}
