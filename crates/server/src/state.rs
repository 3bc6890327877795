//! The state every handler shares.

use std::sync::Arc;

use latchkey_core::Clock;
use latchkey_store::SeaStore;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::keys::KeyService;
use crate::oidc::Oidc;
use crate::passwords::PasswordHasher;
use crate::secrets::CookieKeys;
use crate::templates::Templates;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: SeaStore,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyService,
    /// Discovery documents and token settings, prepared once from the configuration.
    pub oidc: Arc<Oidc>,
    pub passwords: PasswordHasher,
    pub metrics: PrometheusHandle,
    pub templates: Templates,
    /// CSRF and cookie-signing keys, derived from the key-encryption key (same on every node).
    pub secrets: CookieKeys,
}
