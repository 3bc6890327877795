//! The browser cookies: the session cookie, the CSRF cookie and the flash cookie, with the
//! attributes every one of them needs.
//!
//! All three are `HttpOnly` (no script needs them), `SameSite=Lax` (not sent on cross-site POSTs,
//! still sent when a relying party redirects the person here), `Path=/` and without `Domain` (only
//! this host, never a sibling subdomain). With an https issuer they are `Secure` and carry the
//! `__Host-` prefix, which makes browsers refuse them unless set by this very host over https with
//! `Path=/` and no `Domain`: a sibling subdomain or a network attacker cannot plant them
//! (RFC 6265bis §4.1.3.2; OWASP Session Management Cheat Sheet, "Cookies").

use latchkey_core::session::SessionPolicy;
use tower_cookies::Cookie;
use tower_cookies::cookie::SameSite;
use tower_cookies::cookie::time::Duration as CookieDuration;

use crate::config::{Config, SessionConfig};

pub const SESSION_COOKIE: &str = "latchkey_session";
pub const CSRF_COOKIE: &str = "latchkey_csrf";
pub const FLASH_COOKIE: &str = "latchkey_flash";
/// Marks a browser that signed in to an account before ([`crate::auth::KnownDevice`]); signed.
pub const DEVICE_COOKIE: &str = "latchkey_device";

/// The names with the `__Host-` prefix, for https issuers.
const HOST_SESSION_COOKIE: &str = "__Host-latchkey_session";
const HOST_CSRF_COOKIE: &str = "__Host-latchkey_csrf";
const HOST_FLASH_COOKIE: &str = "__Host-latchkey_flash";
const HOST_DEVICE_COOKIE: &str = "__Host-latchkey_device";

/// Cookie names and attributes for this deployment.
#[derive(Debug, Clone, Copy)]
pub struct CookieSettings {
    secure: bool,
}

impl CookieSettings {
    pub fn new(config: &Config) -> Self {
        Self { secure: config.issuer.scheme() == "https" }
    }

    pub fn session_name(self) -> &'static str {
        if self.secure { HOST_SESSION_COOKIE } else { SESSION_COOKIE }
    }

    pub fn csrf_name(self) -> &'static str {
        if self.secure { HOST_CSRF_COOKIE } else { CSRF_COOKIE }
    }

    pub fn flash_name(self) -> &'static str {
        if self.secure { HOST_FLASH_COOKIE } else { FLASH_COOKIE }
    }

    pub fn device_name(self) -> &'static str {
        if self.secure { HOST_DEVICE_COOKIE } else { DEVICE_COOKIE }
    }

    /// A cookie with the common attributes. `max_age: None` makes it a browser-session cookie.
    pub fn cookie(self, name: &'static str, value: String, max_age: Option<chrono::Duration>) -> Cookie<'static> {
        let mut builder =
            Cookie::build((name, value)).path("/").http_only(true).same_site(SameSite::Lax).secure(self.secure);
        if let Some(age) = max_age {
            builder = builder.max_age(CookieDuration::seconds(age.num_seconds()));
        }
        builder.build()
    }

    /// What to hand to `Cookies::remove`: same name and attributes (a `__Host-` removal without
    /// `Secure` would itself be refused by the browser).
    pub fn removal(self, name: &'static str) -> Cookie<'static> {
        self.cookie(name, String::new(), None)
    }
}

/// The session rules with this deployment's timeouts.
pub fn session_policy(config: &SessionConfig) -> SessionPolicy {
    let d = |std: std::time::Duration| chrono::Duration::from_std(std).unwrap_or(chrono::Duration::MAX);
    SessionPolicy {
        idle_timeout: d(config.idle_timeout),
        absolute_timeout: d(config.absolute_timeout),
        remember_me_lifetime: d(config.remember_me_lifetime),
        remember_me_idle_timeout: d(config.remember_me_idle_timeout),
        touch_interval: d(config.touch_interval),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_get_host_prefixed_secure_cookies() {
        let mut config = Config::default();
        let plain = CookieSettings::new(&config).cookie(SESSION_COOKIE, "v".into(), None).to_string();
        assert_eq!(plain, "latchkey_session=v; HttpOnly; SameSite=Lax; Path=/");
        config.issuer = "https://id.example.com".parse().unwrap();
        let settings = CookieSettings::new(&config);
        let name = settings.session_name();
        let secure = settings.cookie(name, "v".into(), Some(chrono::Duration::days(30))).to_string();
        assert_eq!(secure, "__Host-latchkey_session=v; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=2592000");
    }

    #[test]
    fn configured_timeouts_become_the_policy() {
        let policy = session_policy(&Config::default().session);
        assert_eq!(policy, SessionPolicy::default());
    }
}
