//! Every route path, in one place: the router and the discovery document both read these, so
//! they cannot drift apart.

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/static/latchkey.css";

pub const ROOT: &str = "/";
pub const SIGNUP: &str = "/signup";
pub const LOGIN: &str = "/login";
pub const LOGOUT: &str = "/logout";
pub const ACCOUNT: &str = "/account";
// The account console: each section of /account, and the forms that change something there.
pub const ACCOUNT_PROFILE: &str = "/account/profile";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_SESSIONS: &str = "/account/sessions";
pub const ACCOUNT_SESSIONS_END: &str = "/account/sessions/end";
pub const ACCOUNT_SESSIONS_END_OTHERS: &str = "/account/sessions/end-others";
pub const ACCOUNT_APPS: &str = "/account/apps";
pub const ACCOUNT_APPS_REVOKE: &str = "/account/apps/revoke";
pub const ACCOUNT_ACTIVITY: &str = "/account/activity";

// OpenID Connect / OAuth 2.0 endpoints. The discovery document is built from these.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const JWKS: &str = "/jwks";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
/// RP-Initiated Logout 1.0. Not under `/logout`, which is the accounts pages' sign-out.
pub const END_SESSION: &str = "/end_session";
/// The confirmation form of RP-Initiated Logout (posted from our own page, CSRF-protected).
pub const END_SESSION_CONFIRM: &str = "/end_session/confirm";
/// The consent form's answer (posted from our own page, CSRF-protected).
pub const CONSENT: &str = "/consent";
