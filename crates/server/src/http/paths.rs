//! Every route path, in one place: the router and the discovery document both read these, so
//! they cannot drift apart.

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/static/latchkey.css";
