//! Keys for the browser-facing cookies, derived from the key-encryption key.
//!
//! Every node shares the key-encryption key (it must, to use the signing keys), so deriving these
//! from it with HKDF (RFC 5869) gives every node the same CSRF and cookie-signing keys without
//! another secret to configure, while keeping the purposes cryptographically separate: a CSRF tag
//! can never be replayed as a flash signature, and neither reveals the key-encryption key.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::keys::{Kek, KeyError};

/// HKDF labels: changing one invalidates every value made with the old key (forms open in a browser,
/// pending flash messages), nothing else.
const CSRF_LABEL: &str = "latchkey csrf v1";
const COOKIE_LABEL: &str = "latchkey cookie signing v1";

#[derive(Clone)]
pub struct CookieKeys {
    csrf: hmac::Key,
    /// tower-cookies' signing key (HMAC-SHA256 over name and value); it needs 64 bytes.
    cookies: tower_cookies::Key,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKeys([redacted])")
    }
}

impl CookieKeys {
    pub fn derive(kek: &Kek) -> Result<Self, KeyError> {
        let mut csrf = [0u8; 32];
        kek.derive(CSRF_LABEL, &mut csrf)?;
        let mut cookies = [0u8; 64];
        kek.derive(COOKIE_LABEL, &mut cookies)?;
        let cookies = tower_cookies::Key::try_from(&cookies[..]).map_err(|_| KeyError::Generation)?;
        Ok(Self { csrf: hmac::Key::new(hmac::HMAC_SHA256, &csrf), cookies })
    }

    /// The form token for a browser's CSRF cookie value: HMAC-SHA256, base64url.
    pub fn csrf_token(&self, cookie_value: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf, cookie_value.as_bytes()).as_ref())
    }

    /// Does `token` belong to `cookie_value`? Compared in constant time by `hmac::verify`.
    pub fn verify_csrf(&self, cookie_value: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .is_ok_and(|tag| hmac::verify(&self.csrf, cookie_value.as_bytes(), &tag).is_ok())
    }

    pub fn cookie_key(&self) -> &tower_cookies::Key {
        &self.cookies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_to_the_cookie_and_the_key() {
        let kek = Kek::generate().unwrap();
        let keys = CookieKeys::derive(&kek).unwrap();
        let token = keys.csrf_token("cookie-a");
        assert!(keys.verify_csrf("cookie-a", &token));
        assert!(!keys.verify_csrf("cookie-b", &token));
        assert!(!keys.verify_csrf("cookie-a", "not base64 !"));
        assert!(!keys.verify_csrf("cookie-a", ""));
        // Another node with the same key-encryption key agrees; one with another key does not.
        let same = CookieKeys::derive(&Kek::from_base64(&kek.to_base64()).unwrap()).unwrap();
        assert!(same.verify_csrf("cookie-a", &token));
        let other = CookieKeys::derive(&Kek::generate().unwrap()).unwrap();
        assert!(!other.verify_csrf("cookie-a", &token));
    }
}
