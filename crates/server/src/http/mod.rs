//! The HTTP surface: one module per endpoint or page, plus the shared layers.

pub mod client_ip;
pub mod error;
pub mod health;
pub mod layers;
pub mod metrics;
pub mod paths;
