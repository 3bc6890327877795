//! `latchkey-demo-rp`: load the configuration, start discovery in the background, serve the demo
//! until Ctrl-C or SIGTERM. See the library's documentation for what the demo shows.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use latchkey_demo_rp::clock::SystemClock;
use latchkey_demo_rp::config::Config;
use latchkey_demo_rp::{AppState, router};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey-demo-rp",
    version,
    about = "The Latchkey demo relying party: a small app that signs in with Latchkey (OpenID Connect)",
    after_help = "Configuration: config/demo-rp.toml (or --config FILE), then LATCHKEY_DEMO_RP__<KEY> \
                  environment variables, e.g. LATCHKEY_DEMO_RP__ISSUER=http://127.0.0.1:8080"
)]
struct Cli {
    /// Configuration file (default: ./config/demo-rp.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, print the effective values (secret redacted) and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("error: invalid configuration:");
            for problem in &errors.0 {
                eprintln!("  {problem}");
            }
            return ExitCode::from(2);
        }
    };
    if cli.check {
        print!("{}", config.describe());
        eprintln!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    // Logs go to stderr, like the provider's; colours only on a terminal.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let listen = config.listen;
    let public_url = config.public_url.as_str().trim_end_matches('/').to_owned();
    let state = AppState::new(config, Arc::new(SystemClock))?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    // The provider may start after us: keep trying in the background while pages are served.
    let discovery = tokio::spawn({
        let state = state.clone();
        async move { state.provider.discover_with_retry().await }
    });
    tracing::info!(issuer = state.provider.issuer(), "listening on http://{addr} (open {public_url}/ in a browser)");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    discovery.abort();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
