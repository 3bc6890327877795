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
use latchkey_core::account::{validate_email, validate_username};
use latchkey_core::client::{validate_client_id, validate_redirect_uri, validate_scope_token};
use latchkey_core::model::{
    AccountId, AccountQuery, AuditEvent, AuditOutcome, Client, ClientId, GrantType, NewAccount, TokenEndpointAuthMethod,
};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::secret::Secret;
use latchkey_core::store::Store;
use latchkey_core::{Clock, StoreError};

use crate::config::{CliOverrides, Config};
use crate::keys::KeyService;
use crate::passwords::PasswordHasher;

#[derive(Debug, Parser)]
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
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn audit(
        &self,
        event_type: &str,
        account: Option<AccountId>,
        client: Option<ClientId>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            id: uuid::Uuid::now_v7(),
            at: self.now(),
            event_type: event_type.into(),
            account_id: account,
            actor_id: None,
            client_id: client,
            ip: None,
            user_agent: Some("latchkey-cli".into()),
            outcome: AuditOutcome::Success,
            detail,
        };
        if let Err(err) = self.store.insert_audit_event(event).await {
            tracing::warn!(error = %err, "could not write the audit event");
        }
    }

    async fn account(&self, username: &str) -> anyhow::Result<latchkey_core::model::Account> {
        let name = latchkey_core::account::normalize_username(username);
        self.store.find_account_by_username(&name).await?.ok_or_else(|| anyhow!("no user named {username:?}"))
    }

    async fn role(&self, name: &str) -> anyhow::Result<latchkey_core::model::Role> {
        self.store
            .find_role_by_name(name)
            .await?
            .ok_or_else(|| anyhow!("no role named {name:?} (create it with `latchkey roles add {name}`)"))
    }

    fn policy(&self) -> PasswordPolicy {
        PasswordPolicy { min_length: self.config.passwords.min_length, ..PasswordPolicy::default() }
    }
}

fn conflict(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::Conflict(field) => anyhow!("that {field} is already taken"),
        other => anyhow!(other),
    }
}

pub async fn run_users(
    cmd: &UsersCommand,
    ctx: &AdminContext<'_>,
    out: &mut dyn Write,
    passwords: &mut dyn PasswordSource,
) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Add(add) => {
            let username = validate_username(&add.username).map_err(|e| anyhow!("{e}"))?;
            let email = validate_email(&add.email).map_err(|e| anyhow!("{e}"))?;
            let display_name = match add.display_name.as_deref().map(str::trim) {
                Some(d) if d.chars().count() > 128 => bail!("display name must be at most 128 characters"),
                Some("") | None => None,
                Some(d) => Some(d.to_owned()),
            };
            let mut roles = Vec::new();
            for name in &add.roles {
                roles.push(ctx.role(name).await?);
            }
            if ctx.store.find_account_by_username(&username).await?.is_some()
                || ctx.store.find_account_by_email(&email).await?.is_some()
            {
                bail!("that username or email is already taken");
            }
            let password = passwords.read_new_password(&format!("Password for {username}"))?;
            ctx.policy().check(&password, &username, &email).map_err(|p| anyhow!("{p}"))?;
            let hash = ctx.hasher.hash(&password).await?;
            let account = ctx
                .store
                .insert_account(
                    NewAccount {
                        id: AccountId::new(),
                        username: username.clone(),
                        email,
                        email_verified: false,
                        password_hash: Some(hash),
                        display_name,
                    },
                    ctx.now(),
                )
                .await
                .map_err(conflict)?;
            for role in &roles {
                ctx.store.grant_role(account.id, role.id).await?;
            }
            let role_names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            ctx.audit(
                "account.created",
                Some(account.id),
                None,
                serde_json::json!({"via": "cli", "roles": role_names}),
            )
            .await;
            writeln!(out, "created user {} ({})", account.username, account.id)?;
        }
        UsersCommand::List { search } => {
            let query = AccountQuery { search: search.clone(), limit: 10_000, offset: 0 };
            let accounts = ctx.store.list_accounts(&query).await?;
            writeln!(out, "{:<32}  {:<40}  {:<10}  {:<20}  CREATED", "USERNAME", "EMAIL", "STATUS", "ROLES")?;
            for a in accounts {
                let roles = ctx.store.roles_of(a.id).await?.join(",");
                let status = if a.disabled { "disabled" } else { "active" };
                writeln!(
                    out,
                    "{:<32}  {:<40}  {:<10}  {:<20}  {}",
                    a.username,
                    a.email,
                    status,
                    roles,
                    a.created_at.format("%Y-%m-%d %H:%M")
                )?;
            }
        }
        UsersCommand::SetPassword { username } => {
            let account = ctx.account(username).await?;
            let password = passwords.read_new_password(&format!("New password for {}", account.username))?;
            ctx.policy().check(&password, &account.username, &account.email).map_err(|p| anyhow!("{p}"))?;
            let hash = ctx.hasher.hash(&password).await?;
            ctx.store.update_password_hash(account.id, &hash, ctx.now()).await?;
            ctx.store.set_password_change_required(account.id, false, ctx.now()).await?;
            let ended = ctx.store.delete_sessions_of(account.id, None).await?;
            ctx.audit("account.password_set", Some(account.id), None, serde_json::json!({"via": "cli"})).await;
            writeln!(out, "password set for {}; {ended} session(s) ended", account.username)?;
        }
        UsersCommand::Disable { username } => {
            let account = ctx.account(username).await?;
            ctx.store.set_account_disabled(account.id, true, ctx.now()).await?;
            let ended = ctx.store.delete_sessions_of(account.id, None).await?;
            let revoked = ctx.store.revoke_tokens_of(account.id, None, ctx.now()).await?;
            ctx.audit("account.disabled", Some(account.id), None, serde_json::json!({"via": "cli"})).await;
            writeln!(out, "disabled {}; {ended} session(s) ended, {revoked} token(s) revoked", account.username)?;
        }
        UsersCommand::Enable { username } => {
            let account = ctx.account(username).await?;
            ctx.store.set_account_disabled(account.id, false, ctx.now()).await?;
            ctx.audit("account.enabled", Some(account.id), None, serde_json::json!({"via": "cli"})).await;
            writeln!(out, "enabled {}", account.username)?;
        }
        UsersCommand::GrantRole { username, role } => {
            let account = ctx.account(username).await?;
            let role = ctx.role(role).await?;
            ctx.store.grant_role(account.id, role.id).await?;
            ctx.audit(
                "account.role_granted",
                Some(account.id),
                None,
                serde_json::json!({"via": "cli", "role": role.name}),
            )
            .await;
            writeln!(out, "granted {} to {}", role.name, account.username)?;
        }
        UsersCommand::RevokeRole { username, role } => {
            let account = ctx.account(username).await?;
            let role = ctx.role(role).await?;
            if !ctx.store.revoke_role(account.id, role.id).await? {
                bail!("{} does not have the role {}", account.username, role.name);
            }
            ctx.audit(
                "account.role_revoked",
                Some(account.id),
                None,
                serde_json::json!({"via": "cli", "role": role.name}),
            )
            .await;
            writeln!(out, "revoked {} from {}", role.name, account.username)?;
        }
    }
    Ok(())
}

/// Role names: like scope tokens, lowercase letters, digits, '-', '_', '.', ':'; 1 to 64 characters.
pub fn validate_role_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
    {
        bail!("role name {name:?} must be 1 to 64 characters of a-z, 0-9, '-', '_', '.', ':'");
    }
    Ok(())
}

pub async fn run_roles(cmd: &RolesCommand, ctx: &AdminContext<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        RolesCommand::Add { name, description } => {
            validate_role_name(name)?;
            let role = ctx.store.insert_role(name, description.as_deref()).await.map_err(conflict)?;
            ctx.audit("role.created", None, None, serde_json::json!({"via": "cli", "role": role.name})).await;
            writeln!(out, "created role {}", role.name)?;
        }
        RolesCommand::List => {
            writeln!(out, "{:<24}  {:<8}  DESCRIPTION", "ROLE", "BUILTIN")?;
            for role in ctx.store.list_roles().await? {
                let builtin = if role.builtin { "yes" } else { "no" };
                writeln!(out, "{:<24}  {:<8}  {}", role.name, builtin, role.description.unwrap_or_default())?;
            }
        }
    }
    Ok(())
}

/// Default scopes for a new client.
pub const DEFAULT_CLIENT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Secrets given on standard input must be strong: they are compared by hash, not stretched.
const MIN_CLIENT_SECRET_LEN: usize = 32;

pub async fn run_clients(
    cmd: &ClientsCommand,
    ctx: &AdminContext<'_>,
    out: &mut dyn Write,
    passwords: &mut dyn PasswordSource,
) -> anyhow::Result<()> {
    match cmd {
        ClientsCommand::Add(add) => {
            validate_client_id(&add.client_id).map_err(|e| anyhow!(e))?;
            for uri in add.redirect_uris.iter().chain(&add.post_logout_redirect_uris) {
                validate_redirect_uri(uri, add.allow_insecure_http).map_err(|e| anyhow!("{e}"))?;
            }
            let scopes: Vec<String> = if add.scopes.is_empty() {
                DEFAULT_CLIENT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
            } else {
                add.scopes.clone()
            };
            for scope in &scopes {
                validate_scope_token(scope).map_err(|e| anyhow!(e))?;
            }
            let grants: Vec<GrantType> = if add.grants.is_empty() {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                add.grants
                    .iter()
                    .map(|g| {
                        GrantType::parse(g).ok_or_else(|| {
                            anyhow!("unknown grant {g:?} (authorization_code, refresh_token or client_credentials)")
                        })
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            if add.public && grants.contains(&GrantType::ClientCredentials) {
                bail!("a public client cannot use client_credentials: it has no secret to authenticate with");
            }
            if add.public && add.secret_stdin {
                bail!("a public client has no secret; drop --secret-stdin or --public");
            }
            let auth_method = match (add.public, add.auth_method.as_deref()) {
                (true, None | Some("none")) => TokenEndpointAuthMethod::None,
                (true, Some(m)) => bail!("a public client authenticates with `none`, not {m:?}"),
                (false, None) => TokenEndpointAuthMethod::ClientSecretBasic,
                (false, Some(m)) => match TokenEndpointAuthMethod::parse(m) {
                    Some(TokenEndpointAuthMethod::None) | None => {
                        bail!("--auth-method must be client_secret_basic or client_secret_post, got {m:?}")
                    }
                    Some(method) => method,
                },
            };
            let id = ClientId(add.client_id.clone());
            if ctx.store.find_client(&id).await?.is_some() {
                bail!("a client with id {:?} already exists", add.client_id);
            }
            let secret = if add.public {
                None
            } else if add.secret_stdin {
                let s = passwords.read_secret_line()?;
                if s.chars().count() < MIN_CLIENT_SECRET_LEN {
                    bail!("a client secret must be at least {MIN_CLIENT_SECRET_LEN} characters of random data");
                }
                Some(Secret::new(s))
            } else {
                Some(Secret::generate())
            };
            let now = ctx.now();
            let client = Client {
                id: id.clone(),
                secret_hash: secret.as_ref().map(Secret::hash),
                name: add.name.clone().unwrap_or_else(|| add.client_id.clone()),
                redirect_uris: add.redirect_uris.clone(),
                post_logout_redirect_uris: add.post_logout_redirect_uris.clone(),
                grant_types: grants,
                scopes,
                public: add.public,
                first_party: add.first_party,
                token_endpoint_auth_method: auth_method,
                access_token_lifetime: None,
                refresh_token_lifetime: None,
                id_token_lifetime: None,
                id_token_signed_response_alg: "RS256".into(),
                from_config: false,
                created_at: now,
                updated_at: now,
            };
            ctx.store.insert_client(client).await.map_err(conflict)?;
            ctx.audit("client.created", None, Some(id.clone()), serde_json::json!({"via": "cli"})).await;
            writeln!(out, "created client {id}")?;
            if let (Some(secret), false) = (&secret, add.secret_stdin) {
                writeln!(out, "client secret (shown once, store it now): {}", secret.expose())?;
            }
        }
        ClientsCommand::List => {
            writeln!(out, "{:<32}  {:<24}  {:<12}  {:<11}  REDIRECT URIS", "CLIENT ID", "NAME", "TYPE", "FIRST-PARTY")?;
            for c in ctx.store.list_clients().await? {
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
            let id = ClientId(client_id.clone());
            let client = ctx.store.find_client(&id).await?.ok_or_else(|| anyhow!("no client with id {client_id:?}"))?;
            ctx.store.delete_client(&id).await?;
            ctx.audit("client.deleted", None, Some(id.clone()), serde_json::json!({"via": "cli"})).await;
            writeln!(out, "removed client {id}")?;
            if client.from_config {
                writeln!(
                    out,
                    "note: it is declared in the configuration and will be registered again at the next start"
                )?;
            }
        }
        ClientsCommand::RotateSecret { client_id } => {
            let id = ClientId(client_id.clone());
            let client = ctx.store.find_client(&id).await?.ok_or_else(|| anyhow!("no client with id {client_id:?}"))?;
            if client.public {
                bail!("{client_id} is a public client: it has no secret");
            }
            let secret = Secret::generate();
            ctx.store.update_client_secret(&id, secret.hash(), ctx.now()).await?;
            ctx.audit("client.secret_rotated", None, Some(id.clone()), serde_json::json!({"via": "cli"})).await;
            writeln!(out, "new client secret for {id} (shown once, store it now): {}", secret.expose())?;
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
    match cmd {
        KeysCommand::List => {
            writeln!(
                out,
                "{:<44}  {:<6}  {:<8}  {:<17}  {:<17}  RETIRED",
                "KID", "ALG", "STATE", "CREATED", "ACTIVATED"
            )?;
            let fmt =
                |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string());
            for k in ctx.store.list_keys().await? {
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
            let keys = ctx.keys.ok_or_else(|| anyhow!("signing keys are not available"))?;
            let interval = chrono::Duration::from_std(ctx.config.keys.rotation_interval)?;
            let activated = keys.rotate(ctx.store, interval, ctx.now(), true).await?;
            ctx.audit("keys.rotated", None, None, serde_json::json!({"via": "cli", "activated": activated})).await;
            for kid in &activated {
                writeln!(out, "activated {kid}")?;
            }
            writeln!(out, "rotated {} key(s); other nodes pick the new keys up within a minute", activated.len())?;
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
