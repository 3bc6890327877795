//! The token endpoint's grants, one module per grant type (RFC 6749 §4, §6).

pub mod authorization_code;
pub mod refresh_token;
