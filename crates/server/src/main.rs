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
    let serving = matches!(cli.command, None | Some(Command::Serve));
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
                Command::Serve | Command::Migrate | Command::Config(_) | Command::Probe { .. } => Ok(()),
            };
            drop(out);
            store.close().await?;
            result
        }
    }
}
