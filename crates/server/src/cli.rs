//! The `latchkey` command line: `serve` (the default), `migrate`, `config check`, and the
//! administration commands for users, roles, clients and keys.
//!
//! Every administration command validates all of its input before it writes anything, prints one
//! clear line on error and exits non-zero. Passwords are never taken from argv (it shows in `ps`
//! and shell history): they come from a prompt on a terminal, or one line of standard input.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use latchkey_core::Clock;
use latchkey_core::store::Store;

use crate::config::{CliOverrides, Config};
use crate::keys::KeyService;
use crate::passwords::PasswordHasher;
use crate::service::{self, accounts, clients, keys, roles};

/// No `Debug`: `--database-url` may carry a password ([`CliOverrides`] redacts it).
#[derive(Parser)]
#[command(name = "latchkey", version, about = "Latchkey: an OpenID Connect identity provider")]
pub struct Cli {
    /// Configuration file (default: ./config/latchkey.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides `listen`).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Public issuer URL (overrides `issuer`).
    #[arg(long, global = true, value_name = "URL")]
    pub issuer: Option<String>,
    /// Database URL (overrides `database.url`).
    #[arg(long = "database-url", global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log level or filter (overrides `log.level`).
    #[arg(long = "log-level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// `pretty` or `json` (overrides `log.format`).
    #[arg(long = "log-format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    pub fn overrides(&self) -> CliOverrides {
        CliOverrides {
            listen: self.listen.clone(),
            issuer: self.issuer.clone(),
            database_url: self.database_url.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage roles.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Container health check: GET an `http://` URL and exit 0 on a 2xx answer, 1 otherwise.
    /// Hidden: it exists for images without curl (distroless), see deploy/Dockerfile.
    #[command(hide = true)]
    Probe {
        /// e.g. http://127.0.0.1:8080/readyz
        url: String,
    },
    /// Run the provider and the demo app (`latchkey-demo-rp`) together; seeds a `demo` account
    /// into an empty database and prints its password once.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values (secrets redacted).
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account; the password is read from a prompt or standard input.
    Add(UsersAdd),
    /// List accounts.
    List {
        /// Only accounts whose username, email or display name contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Set a new password (read from a prompt or standard input) and end the account's sessions.
    SetPassword { username: String },
    /// Disable an account: it can no longer sign in; its sessions end and its tokens are revoked.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Give an account a role.
    GrantRole { username: String, role: String },
    /// Take a role from an account.
    RevokeRole { username: String, role: String },
}

#[derive(Debug, Args)]
pub struct UsersAdd {
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// A role to grant (repeatable), e.g. `--role admin`.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    #[arg(long = "display-name")]
    pub display_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a role.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List roles.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is printed once.
    Add(ClientsAdd),
    /// List clients.
    List,
    /// Delete a client with its codes, tokens and consents.
    Remove { client_id: String },
    /// Generate a new secret for a confidential client and print it once.
    RotateSecret { client_id: String },
}

#[derive(Debug, Args)]
pub struct ClientsAdd {
    pub client_id: String,
    /// An allowed redirect URI (repeatable; compared by exact string match).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// An allowed post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only), e.g. a single-page or native app.
    #[arg(long)]
    pub public: bool,
    /// Trusted first-party client: skips the consent screen.
    #[arg(long = "first-party")]
    pub first_party: bool,
    #[arg(long)]
    pub name: Option<String>,
    /// An allowed scope (repeatable; default: openid profile email offline_access).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// An allowed grant (repeatable; default: authorization_code refresh_token).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Read the client secret from standard input instead of generating one.
    #[arg(long = "secret-stdin")]
    pub secret_stdin: bool,
    /// Token endpoint authentication: client_secret_basic (default) or client_secret_post.
    #[arg(long = "auth-method")]
    pub auth_method: Option<String>,
    /// Allow http redirect URIs on non-loopback hosts (development only).
    #[arg(long = "allow-insecure-http")]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state and dates.
    List,
    /// Rotate now: the published next key of each algorithm becomes active, a new next key is published.
    Rotate,
}

/// Where a command reads a password from.
pub trait PasswordSource {
    fn read_new_password(&mut self, prompt: &str) -> anyhow::Result<String>;
    fn read_secret_line(&mut self) -> anyhow::Result<String>;
}

/// A terminal prompt (asked twice, must match) or, when standard input is not a terminal, its first line.
pub struct StdinPasswords;

impl PasswordSource for StdinPasswords {
    fn read_new_password(&mut self, prompt: &str) -> anyhow::Result<String> {
        use std::io::IsTerminal as _;
        if std::io::stdin().is_terminal() {
            let first = rpassword::prompt_password(format!("{prompt}: "))?;
            let second = rpassword::prompt_password("Repeat it: ")?;
            if first != second {
                bail!("the two passwords differ");
            }
            Ok(first)
        } else {
            self.read_secret_line()
        }
    }

    fn read_secret_line(&mut self) -> anyhow::Result<String> {
        read_line(&mut std::io::stdin().lock())
    }
}

/// One line without its line ending; an empty input is an error.
pub fn read_line(input: &mut dyn BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line).context("cannot read standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no input on standard input");
    }
    Ok(line)
}

/// What the administration commands work with.
pub struct AdminContext<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub hasher: &'a PasswordHasher,
    pub keys: Option<&'a KeyService>,
}

impl AdminContext<'_> {
    /// The service context: every command goes through [`crate::service`], like the admin console
    /// and API, so the rules are the same everywhere.
    fn service(&self) -> service::Ctx<'_> {
        service::Ctx::new(
            self.config,
            self.store,
            self.clock,
            self.hasher,
            service::Actor::Cli,
            "cli",
            crate::auth::RequestMeta::default(),
        )
    }
}

/// One line for the terminal: the service's message (validation errors name what is wrong).
fn cli_error(err: service::ServiceError) -> anyhow::Error {
    anyhow!("{err}")
}

pub async fn run_users(
    cmd: &UsersCommand,
    ctx: &AdminContext<'_>,
    out: &mut dyn Write,
    passwords: &mut dyn PasswordSource,
) -> anyhow::Result<()> {
    let svc = ctx.service();
    match cmd {
        UsersCommand::Add(add) => {
            let mut input = accounts::NewAccountInput {
                username: add.username.clone(),
                email: add.email.clone(),
                display_name: add.display_name.clone(),
                password: String::new(),
                roles: add.roles.clone(),
                email_verified: false,
                require_password_change: false,
            };
            // Everything but the password is checked before the prompt, so a typo costs no typing.
            if let Err(err) = accounts::validate_new(&svc, &input).await
                && err.field() != Some("password")
            {
                return Err(cli_error(err));
            }
            let shown = latchkey_core::account::normalize_username(&add.username);
            input.password = passwords.read_new_password(&format!("Password for {shown}"))?;
            let account = accounts::create(&svc, input).await.map_err(cli_error)?;
            writeln!(out, "created user {} ({})", account.username, account.id)?;
        }
        UsersCommand::List { search } => {
            let page = accounts::list(&svc, search.as_deref(), Some(service::MAX_PAGE), Some(0)).await;
            let mut offset = 0;
            let mut page = page.map_err(cli_error)?;
            writeln!(out, "{:<32}  {:<40}  {:<10}  {:<20}  CREATED", "USERNAME", "EMAIL", "STATUS", "ROLES")?;
            loop {
                for accounts::AccountSummary { account: a, roles } in &page.items {
                    let status = if a.disabled { "disabled" } else { "active" };
                    writeln!(
                        out,
                        "{:<32}  {:<40}  {:<10}  {:<20}  {}",
                        a.username,
                        a.email,
                        status,
                        roles.join(","),
                        a.created_at.format("%Y-%m-%d %H:%M")
                    )?;
                }
                offset += page.items.len() as u64;
                if page.items.is_empty() || offset >= page.total {
                    break;
                }
                page = accounts::list(&svc, search.as_deref(), Some(service::MAX_PAGE), Some(offset))
                    .await
                    .map_err(cli_error)?;
            }
        }
        UsersCommand::SetPassword { username } => {
            let account = accounts::find_by_username(&svc, username).await.map_err(cli_error)?;
            let password = passwords.read_new_password(&format!("New password for {}", account.username))?;
            let ended = accounts::set_password(&svc, &account, &password, false).await.map_err(cli_error)?;
            writeln!(out, "password set for {}; {ended} session(s) ended", account.username)?;
        }
        UsersCommand::Disable { username } => {
            let account = accounts::find_by_username(&svc, username).await.map_err(cli_error)?;
            let done = accounts::set_disabled(&svc, &account, true).await.map_err(cli_error)?;
            writeln!(
                out,
                "disabled {}; {} session(s) ended, {} token(s) revoked",
                account.username, done.sessions_ended, done.tokens_revoked
            )?;
        }
        UsersCommand::Enable { username } => {
            let account = accounts::find_by_username(&svc, username).await.map_err(cli_error)?;
            accounts::set_disabled(&svc, &account, false).await.map_err(cli_error)?;
            writeln!(out, "enabled {}", account.username)?;
        }
        UsersCommand::GrantRole { username, role } => {
            let account = accounts::find_by_username(&svc, username).await.map_err(cli_error)?;
            roles::grant(&svc, &account, role).await.map_err(cli_error)?;
            writeln!(out, "granted {role} to {}", account.username)?;
        }
        UsersCommand::RevokeRole { username, role } => {
            let account = accounts::find_by_username(&svc, username).await.map_err(cli_error)?;
            roles::revoke(&svc, &account, role).await.map_err(cli_error)?;
            writeln!(out, "revoked {role} from {}", account.username)?;
        }
    }
    Ok(())
}

pub async fn run_roles(cmd: &RolesCommand, ctx: &AdminContext<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let svc = ctx.service();
    match cmd {
        RolesCommand::Add { name, description } => {
            let role = roles::create(&svc, name, description.as_deref()).await.map_err(cli_error)?;
            writeln!(out, "created role {}", role.name)?;
        }
        RolesCommand::List => {
            writeln!(out, "{:<24}  {:<8}  DESCRIPTION", "ROLE", "BUILTIN")?;
            for role in roles::list(&svc).await.map_err(cli_error)? {
                let builtin = if role.builtin { "yes" } else { "no" };
                writeln!(out, "{:<24}  {:<8}  {}", role.name, builtin, role.description.unwrap_or_default())?;
            }
        }
    }
    Ok(())
}

pub async fn run_clients(
    cmd: &ClientsCommand,
    ctx: &AdminContext<'_>,
    out: &mut dyn Write,
    passwords: &mut dyn PasswordSource,
) -> anyhow::Result<()> {
    let svc = ctx.service();
    match cmd {
        ClientsCommand::Add(add) => {
            let input = clients::ClientInput {
                name: add.name.clone(),
                redirect_uris: add.redirect_uris.clone(),
                post_logout_redirect_uris: add.post_logout_redirect_uris.clone(),
                scopes: add.scopes.clone(),
                grants: add.grants.clone(),
                first_party: add.first_party,
                auth_method: add.auth_method.clone(),
                allow_insecure_http: add.allow_insecure_http,
                ..clients::ClientInput::default()
            };
            // A public client with --secret-stdin is refused before anything is read.
            let given = if add.secret_stdin && !add.public { Some(passwords.read_secret_line()?) } else { None };
            let given = if add.secret_stdin && add.public { Some(String::new()) } else { given };
            let registered =
                clients::create(&svc, &add.client_id, add.public, input, given).await.map_err(cli_error)?;
            writeln!(out, "created client {}", registered.client.id)?;
            if let Some(secret) = &registered.secret {
                writeln!(out, "client secret (shown once, store it now): {}", secret.expose())?;
            }
        }
        ClientsCommand::List => {
            writeln!(out, "{:<32}  {:<24}  {:<12}  {:<11}  REDIRECT URIS", "CLIENT ID", "NAME", "TYPE", "FIRST-PARTY")?;
            for c in clients::list(&svc).await.map_err(cli_error)? {
                let kind = if c.public { "public" } else { "confidential" };
                let first = if c.first_party { "yes" } else { "no" };
                writeln!(
                    out,
                    "{:<32}  {:<24}  {:<12}  {:<11}  {}",
                    c.id,
                    c.name,
                    kind,
                    first,
                    c.redirect_uris.join(" ")
                )?;
            }
        }
        ClientsCommand::Remove { client_id } => {
            let client = clients::delete(&svc, client_id).await.map_err(cli_error)?;
            writeln!(out, "removed client {}", client.id)?;
            if client.from_config {
                writeln!(
                    out,
                    "note: it is declared in the configuration and will be registered again at the next start"
                )?;
            }
        }
        ClientsCommand::RotateSecret { client_id } => {
            let (client, secret) = clients::rotate_secret(&svc, client_id).await.map_err(cli_error)?;
            writeln!(out, "new client secret for {} (shown once, store it now): {}", client.id, secret.expose())?;
            if client.from_config {
                writeln!(
                    out,
                    "note: its secret is declared in the configuration and will be restored at the next start"
                )?;
            }
        }
    }
    Ok(())
}

pub async fn run_keys(cmd: &KeysCommand, ctx: &AdminContext<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let svc = ctx.service();
    match cmd {
        KeysCommand::List => {
            writeln!(
                out,
                "{:<44}  {:<6}  {:<8}  {:<17}  {:<17}  RETIRED",
                "KID", "ALG", "STATE", "CREATED", "ACTIVATED"
            )?;
            let fmt =
                |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string());
            for k in keys::list(&svc).await.map_err(cli_error)? {
                writeln!(
                    out,
                    "{:<44}  {:<6}  {:<8}  {:<17}  {:<17}  {}",
                    k.kid,
                    k.algorithm,
                    k.state.as_str(),
                    fmt(Some(k.created_at)),
                    fmt(k.activated_at),
                    fmt(k.retired_at)
                )?;
            }
        }
        KeysCommand::Rotate => {
            let key_service = ctx.keys.ok_or_else(|| anyhow!("signing keys are not available"))?;
            let interval = chrono::Duration::from_std(ctx.config.keys.rotation_interval)?;
            let activated = keys::rotate(&svc, key_service, interval).await.map_err(cli_error)?;
            for kid in &activated {
                writeln!(out, "activated {kid}")?;
            }
            let within = humantime::format_duration(ctx.config.keys.refresh_interval);
            writeln!(
                out,
                "rotated {} key(s); running nodes pick the new keys up within {within} (keys.refresh_interval)",
                activated.len()
            )?;
        }
    }
    Ok(())
}

/// `latchkey probe URL`: one plain-HTTP GET over std's blocking sockets, so that a health check in
/// an image without a shell or curl costs no runtime, no TLS stack and no configuration. Only
/// `http://` is supported: probes target the node itself over loopback.
pub fn probe(url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    use std::io::Read as _;
    use std::net::{TcpStream, ToSocketAddrs as _};

    let url = url::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    if url.scheme() != "http" {
        bail!("probe supports http:// URLs only, got {}", url.scheme());
    }
    let host = url.host_str().ok_or_else(|| anyhow!("URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| anyhow!("cannot resolve {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    // The status line is all we need; a short bounded read avoids waiting for a large body.
    let mut head = [0_u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let status_line = String::from_utf8_lossy(&head[..len]);
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status.starts_with('2') && status.len() == 3 {
        Ok(())
    } else {
        bail!("{url} answered {:?}", status_line.lines().next().unwrap_or_default())
    }
}

/// The account `latchkey demo` creates in an empty database.
pub const DEMO_USERNAME: &str = "demo";

/// The demo relying party's client id, as `config/latchkey.toml` registers it.
pub const DEMO_CLIENT_ID: &str = "demo-rp";

/// A password for the demo account: 24 random letters and digits in groups of six (about 140
/// bits), readable enough to type from the terminal, far beyond the policy's strength threshold.
pub fn generate_demo_password() -> String {
    use rand::distr::{Alphanumeric, SampleString as _};
    let raw = Alphanumeric.sample_string(&mut rand::rng(), 24);
    raw.as_bytes().chunks(6).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// A password source that hands out one fixed password (the generated demo password).
struct GivenPassword(String);

impl PasswordSource for GivenPassword {
    fn read_new_password(&mut self, _prompt: &str) -> anyhow::Result<String> {
        Ok(self.0.clone())
    }

    fn read_secret_line(&mut self) -> anyhow::Result<String> {
        Ok(self.0.clone())
    }
}

/// Creates the `demo` account when the database has no accounts at all; returns its generated
/// password, or `None` when there were accounts already (nothing is changed then). Goes through
/// `users add`, so the account gets the same checks and audit event as one made by hand.
pub async fn seed_demo_account(ctx: &AdminContext<'_>) -> anyhow::Result<Option<String>> {
    if ctx.store.count_accounts(None).await? > 0 {
        return Ok(None);
    }
    let password = generate_demo_password();
    let add = UsersAdd {
        username: DEMO_USERNAME.to_owned(),
        email: "demo@example.com".to_owned(),
        roles: Vec::new(),
        display_name: Some("Demo User".to_owned()),
    };
    let mut out = Vec::new();
    run_users(&UsersCommand::Add(add), ctx, &mut out, &mut GivenPassword(password.clone())).await?;
    Ok(Some(password))
}
