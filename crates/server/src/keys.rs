//! The signing keys this node uses: the key-encryption key, start-up provisioning, rotation.
//!
//! Keys live in the database so every node agrees on them; this service keeps a copy in memory
//! and refreshes it (see [`KeyService::refresh`]) so a rotation made by one node (or by
//! `latchkey keys rotate`) reaches the others within the refresh interval.

use std::path::Path;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use latchkey_core::jws::KeyRing;
use latchkey_core::keys::{self, Algorithm, Kek};
use latchkey_core::model::{KeyState, SigningKey};
use latchkey_core::store::KeyStore;

use crate::config::Config;

/// Name of the generated key-encryption key in the data directory.
pub const KEK_FILE: &str = "key-encryption.key";

/// How long a `next` key is published before a scheduled rotation may activate it: relying
/// parties that cache JWKS for up to a day then already know it.
pub fn publish_ahead() -> chrono::Duration {
    chrono::Duration::days(1)
}

/// How long a retired key stays in JWKS: longer than any token it signed can live (refresh
/// tokens are opaque; ID and access tokens live minutes to hours).
pub fn retire_retention() -> chrono::Duration {
    chrono::Duration::days(7)
}

#[derive(Debug, thiserror::Error)]
pub enum KeySetupError {
    #[error("{0}")]
    Key(#[from] keys::KeyError),
    #[error("key-encryption key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Store(#[from] latchkey_core::StoreError),
}

/// The key-encryption key: `keys.encryption_key` from the configuration, or else one generated
/// once into the data directory (mode 0600). Several nodes must share the same key; that is why
/// production deployments set it in the configuration.
pub fn resolve_kek(config: &Config) -> Result<Kek, KeySetupError> {
    if let Some(secret) = &config.keys.encryption_key {
        return Ok(Kek::from_base64(secret.expose())?);
    }
    let path = config.data_dir.join(KEK_FILE);
    let io_err = |source| KeySetupError::Io { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Kek::from_base64(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kek = Kek::generate()?;
            write_secret_file(&path, &kek.to_base64()).map_err(io_err)?;
            tracing::warn!(
                path = %path.display(),
                "generated a key-encryption key for the signing keys; back it up with the database, and set \
                 keys.encryption_key (the same on every node) in production"
            );
            Ok(kek)
        }
        Err(e) => Err(io_err(e)),
    }
}

fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// One refresh's worth of keys: the stored records, the ready signers and verifiers, and the
/// JWKS body. Swapped whole, so a request sees one consistent set.
struct Loaded {
    keys: Vec<SigningKey>,
    ring: Arc<KeyRing>,
    jwks: Bytes,
}

/// The keys as this node knows them.
#[derive(Clone)]
pub struct KeyService {
    kek: Kek,
    loaded: Arc<RwLock<Arc<Loaded>>>,
}

impl KeyService {
    /// Makes sure every algorithm has an active and a next key (generating and activating as
    /// needed; scheduled rotation included), then loads them.
    pub async fn start(
        store: &dyn KeyStore,
        kek: Kek,
        interval: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, KeySetupError> {
        let empty = Loaded { keys: Vec::new(), ring: Arc::new(KeyRing::empty()), jwks: Bytes::new() };
        let service = Self { kek, loaded: Arc::new(RwLock::new(Arc::new(empty))) };
        service.rotate(store, interval, now, false).await?;
        Ok(service)
    }

    /// Applies the rotation plan for every algorithm (`force`: rotate now, as `latchkey keys rotate`)
    /// and reloads. Returns the kids activated.
    pub async fn rotate(
        &self,
        store: &dyn KeyStore,
        interval: chrono::Duration,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<Vec<String>, KeySetupError> {
        let mut activated = Vec::new();
        for alg in Algorithm::ALL {
            let mut force = force;
            if force
                && !store.list_keys().await?.iter().any(|k| k.algorithm == alg.as_str() && k.state == KeyState::Next)
            {
                // Nothing published to promote yet (a fresh set): publish one first.
                let key = keys::generate_signing_key(alg, &self.kek, now)?;
                store.insert_key(key).await?;
            }
            // A fresh set needs two steps (publish a next key, then activate it since nothing is
            // active); a steady set needs at most one. Re-plan until nothing is left to do.
            for _ in 0..3 {
                let current = store.list_keys().await?;
                let plan = keys::plan_rotation(&current, alg, now, interval, publish_ahead(), force);
                if plan.activate.is_none() && !plan.generate_next {
                    break;
                }
                if let Some(kid) = &plan.activate {
                    store.activate_key(kid, now).await?;
                    activated.push(kid.clone());
                    tracing::info!(kid, alg = alg.as_str(), "signing key activated");
                }
                if plan.generate_next {
                    let key = keys::generate_signing_key(alg, &self.kek, now)?;
                    tracing::info!(kid = key.kid, alg = alg.as_str(), "next signing key published");
                    store.insert_key(key).await?;
                }
                force = false;
            }
        }
        store.delete_retired_keys(now - retire_retention() * 2).await?;
        self.refresh(store, now).await?;
        Ok(activated)
    }

    /// Reloads the key set from the database. The active keys are decrypted and parsed here,
    /// once, into ready signers (parsing an RSA key per request would cost as much as signing);
    /// the JWKS body is serialized here too. A key set that fails to load leaves the previous one
    /// in place: the active keys must decrypt under our KEK, and a node configured with another
    /// key than the one that created them must fail loudly, not sign with nothing.
    pub async fn refresh(&self, store: &dyn KeyStore, now: DateTime<Utc>) -> Result<(), KeySetupError> {
        let keys = store.list_keys().await?;
        let ring = KeyRing::load(&keys, &self.kek, now, retire_retention())?;
        let jwks = Bytes::copy_from_slice(ring.jwks_json());
        let loaded = Arc::new(Loaded { keys, ring: Arc::new(ring), jwks });
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.loaded.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> Vec<SigningKey> {
        self.current().keys.clone()
    }

    /// The signers and verifiers of the current key set (cheap: one `Arc` clone).
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.current().ring)
    }

    /// The JWKS document (cheap: a reference-counted buffer).
    pub fn jwks(&self) -> Bytes {
        self.current().jwks.clone()
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }
}
