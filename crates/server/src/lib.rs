//! latchkey-server: the `latchkey` binary's library: configuration, CLI, start-up and HTTP.
//!
//! It owns the HTTP surface (routes, extractors, error responses, pages) and wiring: reading the
//! configuration once, opening the store, loading keys, and serving. It must never contain SQL
//! (that is `latchkey-store`) or protocol rules (that is `latchkey-core`): handlers extract,
//! call one core function, and answer.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod keys;
pub mod oidc;
pub mod passwords;
pub mod secrets;
pub mod serve;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod templates;

pub use app::router;
pub use state::AppState;
