//! The HTTP surface: one module per endpoint or page, plus the shared layers.

pub mod client_auth;
pub mod client_ip;
pub mod discovery;
pub mod error;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod layers;
pub mod metrics;
pub mod paths;
pub mod revoke;
pub mod token;
pub mod userinfo;
