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

/// Cheap to clone: one reference count. Every request clones the state several times (each
/// stateful middleware and extractor takes its own copy), so the fields live behind one `Arc`
/// rather than each being cloned (the cookie keys' HMAC contexts alone cost more than serving
/// the discovery document). Fields are reached through `Deref`: `app.store`, `app.config`.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
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
    /// Which throttle refusals were audited lately ([`crate::auth`]): a flood gets one
    /// `login.throttled` event per counter per second on each node, not one per request.
    pub throttle_audit: crate::auth::ThrottleAuditLimiter,
}
