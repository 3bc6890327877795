//! The HTTP surface: one module per endpoint or page, plus the shared layers.

pub mod account;
pub mod admin;
pub mod authorize;
pub mod client_auth;
pub mod client_ip;
pub mod consent;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod extract;
pub mod flash;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod layers;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod page;
pub mod paths;
pub mod revoke;
pub mod session;
pub mod signup;
pub mod token;
pub mod userinfo;
