//! The app's cookies and its CSRF check.
//!
//! Every cookie is private (encrypted and authenticated with a key that never leaves the process,
//! via `tower-cookies`), `HttpOnly` (no script needs them), `SameSite=Lax` (not sent on cross-site
//! POSTs, still sent on the top-level GET that brings the browser back from the provider) and
//! `Path=/`. Over https they are also `Secure` with the `__Host-` prefix, which browsers only
//! accept from this very host (RFC 6265bis §4.1.3.2).
//!
//! The names start with `demo_rp_` because cookies do not care about ports: on a laptop the
//! provider (127.0.0.1:8080) and this app (127.0.0.1:8081) share one cookie jar, and equal names
//! would overwrite each other.

use subtle::ConstantTimeEq as _;
use tower_cookies::cookie::SameSite;
use tower_cookies::cookie::time::Duration as CookieDuration;
use tower_cookies::{Cookie, Cookies, Key, PrivateCookies};

use crate::session::random_id;

/// One of the app's cookies: its plain name and its `__Host-` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieName {
    plain: &'static str,
    host: &'static str,
}

/// The random id of the app's session; the session itself stays on the server.
pub const SESSION: CookieName = CookieName { plain: "demo_rp_session", host: "__Host-demo_rp_session" };
/// The CSRF token every form carries back.
pub const CSRF: CookieName = CookieName { plain: "demo_rp_csrf", host: "__Host-demo_rp_csrf" };
/// The random id of the sign-in in progress (state, nonce, PKCE verifier are on the server).
pub const LOGIN: CookieName = CookieName { plain: "demo_rp_login", host: "__Host-demo_rp_login" };
/// The `state` sent with the logout request, to recognise the provider sending the person back.
pub const LOGOUT: CookieName = CookieName { plain: "demo_rp_logout", host: "__Host-demo_rp_logout" };

/// The private cookies of one request, with this deployment's attributes.
pub struct Jar<'a> {
    cookies: PrivateCookies<'a>,
    secure: bool,
}

impl<'a> Jar<'a> {
    pub fn new(cookies: &Cookies, key: &'a Key, secure: bool) -> Self {
        Self { cookies: cookies.private(key), secure }
    }

    fn name(&self, name: CookieName) -> &'static str {
        if self.secure { name.host } else { name.plain }
    }

    /// The value, if the browser sent the cookie and it decrypts with our key. A cookie someone
    /// made up or altered does not.
    pub fn get(&self, name: CookieName) -> Option<String> {
        self.cookies.get(self.name(name)).map(|c| c.value().to_owned())
    }

    /// Sets a cookie; `max_age: None` makes it last until the browser is closed.
    pub fn set(&self, name: CookieName, value: String, max_age: Option<std::time::Duration>) {
        let mut cookie = self.build(name, value);
        if let Some(age) = max_age {
            cookie.set_max_age(CookieDuration::seconds(i64::try_from(age.as_secs()).unwrap_or(i64::MAX)));
        }
        self.cookies.add(cookie);
    }

    pub fn remove(&self, name: CookieName) {
        // Same name, path and attributes as when it was set, or the browser keeps the old one.
        self.cookies.remove(self.build(name, String::new()));
    }

    fn build(&self, name: CookieName, value: String) -> Cookie<'static> {
        Cookie::build((self.name(name), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }

    /// The browser's CSRF token, created on first use. Forms carry it in a hidden field.
    pub fn csrf_token(&self) -> String {
        self.get(CSRF).unwrap_or_else(|| {
            let token = random_id();
            self.set(CSRF, token.clone(), None);
            token
        })
    }

    /// Whether a submitted form came from one of our pages in this browser: its token equals the
    /// one in the browser's private cookie, which another site can neither read nor plant
    /// (OWASP CSRF Prevention, "signed double-submit cookie"). `SameSite=Lax` is a second layer.
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        self.get(CSRF).is_some_and(|expected| !submitted.is_empty() && constant_time_eq(&expected, submitted))
    }
}

/// Compares secrets without an early exit that would reveal how many leading bytes matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar_with(key: &Key, secure: bool, cookies: &Cookies) -> String {
        let jar = Jar::new(cookies, key, secure);
        jar.csrf_token()
    }

    #[test]
    fn csrf_token_is_bound_to_the_browsers_cookie() {
        let key = Key::generate();
        let cookies = Cookies::default();
        let token = jar_with(&key, false, &cookies);
        let jar = Jar::new(&cookies, &key, false);
        assert_eq!(jar.csrf_token(), token, "stable within the browser");
        assert!(jar.csrf_ok(&token));
        assert!(!jar.csrf_ok(""));
        assert!(!jar.csrf_ok(&format!("{token}x")));
        assert!(!jar.csrf_ok(&random_id()));

        // Another browser (another jar) does not accept this token.
        let other = Cookies::default();
        let other_jar = Jar::new(&other, &key, false);
        assert!(!other_jar.csrf_ok(&token));
        let _ = other_jar.csrf_token();
        assert!(!other_jar.csrf_ok(&token));
    }

    #[test]
    fn a_cookie_sealed_with_another_key_is_ignored() {
        let cookies = Cookies::default();
        let token = jar_with(&Key::generate(), false, &cookies);
        let other_key = Key::generate();
        let jar = Jar::new(&cookies, &other_key, false);
        assert!(jar.get(CSRF).is_none());
        assert!(!jar.csrf_ok(&token));
    }

    #[test]
    fn cookies_have_the_attributes_and_https_names() {
        let key = Key::generate();
        let jar = Jar::new(&Cookies::default(), &key, false);
        let plain = jar.build(SESSION, "v".into()).to_string();
        assert_eq!(plain, "demo_rp_session=v; HttpOnly; SameSite=Lax; Path=/");
        let secure = Jar::new(&Cookies::default(), &key, true).build(SESSION, "v".into()).to_string();
        assert_eq!(secure, "__Host-demo_rp_session=v; HttpOnly; SameSite=Lax; Secure; Path=/");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
