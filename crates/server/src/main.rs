//! The `latchkey` binary: parse the command line, load the configuration once, then serve or run
//! an administration command. Every failure ends with one line on stderr and a non-zero status.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use latchkey_core::{Clock, SystemClock};
use latchkey_server::cli::{AdminContext, Cli, Command, ConfigCommand, StdinPasswords};
use latchkey_server::config::Config;
use latchkey_server::keys::{KeyService, resolve_kek};
use latchkey_server::passwords::PasswordHasher;
use latchkey_server::{cli, serve, telemetry};

/// The binary's memory allocator is jemalloc, not glibc's malloc, for speed and so that memory
/// follows the load back down.
///
/// - Speed: the request paths allocate many small short-lived objects on every runtime worker.
///   On the same host and hour (bench/run.sh, SQLite; bench/results/run-2026-12-07-jemalloc.md),
///   userinfo went from 20,368 to 25,161 requests/s and introspection from 18,312 to 25,123.
/// - Memory: glibc gives each thread that allocates under contention an arena of its own and keeps
///   what is freed inside it; releasing that would need `malloc_trim` through unsafe FFI. jemalloc's
///   background thread returns freed pages to the system (`MADV_DONTNEED`) about a second after
///   they are freed, whether or not the server is still busy (`dirty_decay_ms:1000`,
///   `muzzy_decay_ms:0`, one background thread: compiled in from .cargo/config.toml;
///   `_RJEM_MALLOC_CONF` overrides it at run time).
///   mimalloc was measured too and rejected: it purges only from inside later allocator calls, so
///   an idle server kept the two 19 MiB Argon2 blocks after releasing them (79.5 MiB eight seconds
///   after the benchmark, against 48.6 MiB with glibc and 35.9 MiB with jemalloc).
///
/// Only Rust's allocations go through it; the C libraries (SQLite, aws-lc) keep the C library's
/// malloc. `--no-default-features` builds without it.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the configuration: a health check must not fail because of settings it never uses.
    if let Some(Command::Probe { url }) = &cli.command {
        return match cli::probe(url, std::time::Duration::from_secs(3)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &cli.overrides()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("error: invalid configuration:");
            for problem in &errors.0 {
                eprintln!("  {problem}");
            }
            return ExitCode::from(2);
        }
    };
    // Administration commands print their own one-line results; only warnings belong beside them.
    let serving = matches!(cli.command, None | Some(Command::Serve | Command::Demo));
    telemetry::init(config.log.format, if serving { &config.log.level } else { "warn" });

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the context chain on one line: "cannot open the database ...: <cause>".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Serve => {
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            serve::serve(config).await
        }
        Command::Demo => {
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            demo(config).await
        }
        Command::Config(ConfigCommand::Check) => {
            print!("{}", config.to_redacted_toml());
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Migrate => {
            let store = serve::open_store(&config).await?;
            store.close().await?;
            eprintln!("migrations applied");
            Ok(())
        }
        admin => {
            let store = serve::open_store(&config).await?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let hasher = PasswordHasher::new(&config.passwords)?;
            let keys = match &admin {
                Command::Keys(_) => {
                    let interval = chrono::Duration::from_std(config.keys.rotation_interval)?;
                    Some(KeyService::start(&store, resolve_kek(&config)?, interval, clock.now()).await?)
                }
                _ => None,
            };
            let ctx = AdminContext {
                config: &config,
                store: &store,
                clock: clock.as_ref(),
                hasher: &hasher,
                keys: keys.as_ref(),
            };
            let mut out = std::io::stdout().lock();
            let result = match &admin {
                Command::Users(cmd) => cli::run_users(cmd, &ctx, &mut out, &mut StdinPasswords).await,
                Command::Roles(cmd) => cli::run_roles(cmd, &ctx, &mut out).await,
                Command::Clients(cmd) => cli::run_clients(cmd, &ctx, &mut out, &mut StdinPasswords).await,
                Command::Keys(cmd) => cli::run_keys(cmd, &ctx, &mut out).await,
                Command::Serve | Command::Migrate | Command::Config(_) | Command::Probe { .. } | Command::Demo => {
                    Ok(())
                }
            };
            drop(out);
            store.close().await?;
            result
        }
    }
}

/// `latchkey demo`: the provider and the demo relying party together. The demo app is the
/// `latchkey-demo-rp` binary next to this one, run as a child process with the settings of the
/// `demo-rp` client from this configuration, so the two always agree. Ctrl-C reaches both (one
/// process group on a terminal); the child is also killed if this process ends first.
async fn demo(config: Config) -> anyhow::Result<()> {
    use anyhow::{Context as _, anyhow, bail};

    let client = config.clients.iter().find(|c| c.id == cli::DEMO_CLIENT_ID).ok_or_else(|| {
        anyhow!(
            "the configuration registers no `{}` client; run `latchkey demo` from the repository root, \
             where config/latchkey.toml declares it",
            cli::DEMO_CLIENT_ID
        )
    })?;
    let secret =
        client.secret.as_ref().ok_or_else(|| anyhow!("the `demo-rp` client has no secret"))?.expose().to_owned();
    let callback = client.redirect_uris.first().ok_or_else(|| anyhow!("the `demo-rp` client has no redirect URI"))?;
    let public_url = callback
        .strip_suffix("/callback")
        .ok_or_else(|| anyhow!("the `demo-rp` redirect URI {callback} does not end in /callback"))?
        .to_owned();
    let rp_url = url::Url::parse(&public_url).with_context(|| format!("the `demo-rp` redirect URI {callback}"))?;
    let listen =
        format!("{}:{}", rp_url.host_str().unwrap_or("127.0.0.1"), rp_url.port_or_known_default().unwrap_or(8081));
    let rp_binary = std::env::current_exe()?.with_file_name("latchkey-demo-rp");
    if !rp_binary.is_file() {
        bail!("{} not found; build it first: cargo build --release -p latchkey-demo-rp", rp_binary.display());
    }

    let store = serve::open_store(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hasher = PasswordHasher::new(&config.passwords)?;
    let ctx = AdminContext { config: &config, store: &store, clock: clock.as_ref(), hasher: &hasher, keys: None };
    let seeded = cli::seed_demo_account(&ctx).await;
    store.close().await?;
    let seeded = seeded.context("cannot create the demo account")?;

    let mut child = tokio::process::Command::new(&rp_binary)
        .env("LATCHKEY_DEMO_RP__ISSUER", config.issuer_str())
        .env("LATCHKEY_DEMO_RP__CLIENT_ID", cli::DEMO_CLIENT_ID)
        .env("LATCHKEY_DEMO_RP__CLIENT_SECRET", &secret)
        .env("LATCHKEY_DEMO_RP__PUBLIC_URL", &public_url)
        .env("LATCHKEY_DEMO_RP__LISTEN", &listen)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", rp_binary.display()))?;

    println!();
    println!("Latchkey demo");
    println!("  provider:  {}", config.issuer_str());
    println!("  demo app:  {public_url}/   <- open this in a browser and press \"Sign in with Latchkey\"");
    match &seeded {
        Some(password) => {
            println!("  account:   {} / {password}", cli::DEMO_USERNAME);
            println!("             (the password is shown only now; or create your own account on the sign-in page)");
        }
        None => println!("  accounts:  the database has accounts already; sign in with one, or create one"),
    }
    println!("  Ctrl-C stops both.");
    println!();

    let provider = serve::serve(config);
    tokio::pin!(provider);
    tokio::select! {
        result = &mut provider => {
            // On Ctrl-C the demo app got the signal too; give it a moment to stop by itself.
            if tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            result
        }
        status = child.wait() => match status {
            // The demo app only exits cleanly on a signal, and Ctrl-C reaches the provider too.
            Ok(status) if status.success() => {
                tracing::info!("the demo app stopped");
                provider.await
            }
            Ok(status) => bail!("the demo app exited ({status}); stopping the provider"),
            Err(err) => bail!("lost the demo app: {err}; stopping the provider"),
        },
    }
}
