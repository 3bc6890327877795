//! `latchkey serve`: open the store, prepare keys and clients, listen, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use latchkey_core::model::{Client, ClientId, TokenEndpointAuthMethod};
use latchkey_core::secret::Secret;
use latchkey_core::store::ClientStore;
use latchkey_core::{Clock, SystemClock};
use latchkey_store::{SeaStore, redact_database_url};
use tokio::sync::watch;

use crate::config::{ClientConfig, Config};
use crate::keys::{KeyService, resolve_kek};
use crate::passwords::PasswordHasher;
use crate::state::{AppState, AppStateInner};
use crate::templates::Templates;

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<SeaStore> {
    let url = config.database.url.expose();
    let store = SeaStore::connect_with_timeout(url, config.database.max_connections, config.database.connect_timeout)
        .await
        .with_context(|| format!("cannot open the database {}", redact_database_url(url)))?;
    store.migrate().await.context("cannot apply database migrations")?;
    Ok(store)
}

/// Builds the shared state: store, keys, clients from the configuration, hasher, templates.
pub async fn build_state(config: Config, store: SeaStore, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    sync_config_clients(&store, &config.clients, clock.now()).await?;
    let kek = resolve_kek(&config)?;
    let interval = chrono::Duration::from_std(config.keys.rotation_interval).context("keys.rotation_interval")?;
    let keys = KeyService::start(&store, kek, interval, clock.now()).await.context("cannot prepare signing keys")?;
    let passwords = PasswordHasher::new(&config.passwords)?;
    let templates = Templates::load().context("templates")?;
    let secrets = crate::secrets::CookieKeys::derive(keys.kek()).context("cannot derive cookie keys")?;
    let oidc = Arc::new(crate::oidc::Oidc::new(&config));
    Ok(AppState::new(AppStateInner {
        oidc,
        config: Arc::new(config),
        store,
        clock,
        keys,
        passwords,
        metrics: crate::http::metrics::recorder(),
        templates,
        secrets,
        throttle_audit: crate::auth::ThrottleAuditLimiter::default(),
    }))
}

/// Turns a `[[clients]]` entry into a client record.
pub fn client_from_config(entry: &ClientConfig, now: chrono::DateTime<chrono::Utc>) -> Client {
    Client {
        id: ClientId(entry.id.clone()),
        secret_hash: entry.secret.as_ref().map(Secret::hash),
        name: entry.name.clone().unwrap_or_else(|| entry.id.clone()),
        redirect_uris: entry.redirect_uris.clone(),
        post_logout_redirect_uris: entry.post_logout_redirect_uris.clone(),
        grant_types: entry.grants.clone(),
        scopes: entry.scopes.clone(),
        public: entry.public,
        first_party: entry.first_party,
        token_endpoint_auth_method: if entry.public {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretBasic
        },
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        id_token_lifetime: None,
        id_token_signed_response_alg: "RS256".into(),
        from_config: true,
        created_at: now,
        updated_at: now,
    }
}

/// Upserts the declared clients; deletes clients that came from the configuration and are no
/// longer declared (they belong to the file; clients added through the CLI or console are never touched).
pub async fn sync_config_clients(
    store: &dyn ClientStore,
    declared: &[ClientConfig],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    for entry in declared {
        store.upsert_client(client_from_config(entry, now)).await.with_context(|| format!("client {}", entry.id))?;
    }
    for client in store.list_clients().await? {
        if client.from_config && !declared.iter().any(|d| d.id == client.id.0) {
            store.delete_client(&client.id).await?;
            tracing::info!(client_id = %client.id, "removed a client no longer declared in the configuration");
        }
    }
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Runs the server until a shutdown signal, then lets in-flight requests finish (up to
/// `http.shutdown_grace`) and closes the database.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = open_store(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = build_state(config, store.clone(), clock).await?;
    let config = Arc::clone(&state.config);
    crate::http::admin::setup::announce_setup_link(&state).await;

    let listener =
        std::net::TcpListener::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "latchkey listening on {scheme}://{local} (issuer {}), database {} [{}], ready in {} ms",
        config.issuer,
        redact_database_url(config.database.url.expose()),
        store.backend_name(),
        started.elapsed().as_millis()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let maintenance = tokio::spawn(maintenance_loop(state.clone(), stop_rx.clone()));
    let metrics_upkeep = tokio::spawn(crate::http::metrics::upkeep_loop(state.metrics.clone()));
    let app = crate::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let grace = config.http.shutdown_grace;

    let signalled = async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests (grace {}s)", grace.as_secs());
        let _ = stop_tx.send(true);
    };

    if let Some(tls) = &config.tls {
        let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
            .await
            .context("cannot load tls.cert / tls.key")?;
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle.clone()).serve(app);
        let h = handle.clone();
        tokio::spawn(async move {
            signalled.await;
            h.graceful_shutdown(Some(grace));
        });
        server.await?;
    } else {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let mut stopping = stop_rx.clone();
        let server = axum::serve(listener, app).with_graceful_shutdown(signalled);
        let server = server.into_future();
        tokio::pin!(server);
        // Graceful shutdown waits for every connection; bound it by the grace period.
        tokio::select! {
            result = &mut server => result?,
            () = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("grace period over; closing the remaining connections"),
        }
    }

    maintenance.abort();
    metrics_upkeep.abort();
    store.close().await.context("closing the database")?;
    tracing::info!("latchkey stopped");
    Ok(())
}

/// Periodic work every node does: pick up key rotations made elsewhere (every
/// `keys.refresh_interval`: the documented bound on how long a rotation takes to reach this node),
/// check the rotation schedule (hourly) and purge expired sessions and grants (every ten minutes).
/// Each step is idempotent, so several nodes doing it is safe.
async fn maintenance_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    const ROTATION_CHECK: Duration = Duration::from_secs(3600);
    const PURGE: Duration = Duration::from_secs(600);
    // Separate timers, so a short refresh interval does not make rotation checks or purges more frequent.
    let every = |period: Duration| {
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // After a slow step (a database outage), carry on from now instead of catching up in a burst.
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    };
    let mut refresh = every(state.config.keys.refresh_interval);
    let mut rotation = every(ROTATION_CHECK);
    let mut purge = every(PURGE);
    loop {
        tokio::select! {
            _ = refresh.tick() => {
                if let Err(err) = state.keys.refresh(&state.store, state.clock.now()).await {
                    tracing::warn!(error = %err, "key refresh failed");
                }
            }
            _ = rotation.tick() => {
                // `rotate` reloads the key set too.
                if let Ok(interval) = chrono::Duration::from_std(state.config.keys.rotation_interval)
                    && let Err(err) = state.keys.rotate(&state.store, interval, state.clock.now(), false).await
                {
                    tracing::warn!(error = %err, "scheduled key rotation failed");
                }
            }
            _ = purge.tick() => {
                let now = state.clock.now();
                let session = &state.config.session;
                let idle = chrono::Duration::from_std(session.idle_timeout).unwrap_or_default();
                let remember_idle = chrono::Duration::from_std(session.remember_me_idle_timeout).unwrap_or_default();
                use latchkey_core::store::{GrantStore as _, SessionStore as _};
                if let Err(err) = state.store.purge_sessions(now, now - idle, now - remember_idle).await {
                    tracing::warn!(error = %err, "session purge failed");
                }
                if let Err(err) = state.store.purge_expired_grants(now - chrono::Duration::days(1)).await {
                    tracing::warn!(error = %err, "grant purge failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}
