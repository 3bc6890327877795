//! Rules for client registrations: redirect URIs, scopes, grants.

use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("{0:?} is not an absolute URI")]
    NotAbsolute(String),
    #[error("{0:?} has a fragment; redirect URIs must not (RFC 6749 §3.1.2)")]
    Fragment(String),
    #[error("{0:?} uses http on a non-loopback host; use https (or allow http explicitly)")]
    InsecureHttp(String),
    #[error("{0:?} has user information; redirect URIs must not")]
    UserInfo(String),
    #[error("{0:?} uses a scheme that cannot be a redirect target")]
    BadScheme(String),
}

/// Is the URL's host a loopback address (RFC 8252 §7.3) or `localhost`?
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a redirect (or post-logout redirect) URI for registration. The URI is stored exactly as
/// given, because matching at the authorization endpoint is an exact string comparison.
pub fn validate_redirect_uri(raw: &str, allow_insecure_http: bool) -> Result<(), RedirectUriError> {
    let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute(raw.to_owned()))?;
    // Url::parse keeps a trailing '#' as an empty fragment; look at the raw text too.
    if url.fragment().is_some() || raw.contains('#') {
        return Err(RedirectUriError::Fragment(raw.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriError::UserInfo(raw.to_owned()));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(()),
        "http" => Err(RedirectUriError::InsecureHttp(raw.to_owned())),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            Err(RedirectUriError::BadScheme(raw.to_owned()))
        }
        // Private-use schemes for native apps (RFC 8252 §7.1), e.g. com.example.app:/callback.
        s if s.contains('.') => Ok(()),
        _ => Err(RedirectUriError::BadScheme(raw.to_owned())),
    }
}

/// A client id: 1 to 128 printable ASCII characters without spaces, so it survives URLs, headers and logs.
pub fn validate_client_id(raw: &str) -> Result<(), String> {
    if raw.is_empty() || raw.len() > 128 {
        return Err(format!("client id must be 1 to 128 characters, got {}", raw.len()));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        return Err(format!("client id {raw:?} may contain only letters, digits, '-', '.', '_' and '~'"));
    }
    Ok(())
}

/// A scope token per RFC 6749 §3.3: printable ASCII except space, '"' and '\'.
pub fn validate_scope_token(raw: &str) -> Result<(), String> {
    if !raw.is_empty() && raw.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
        Ok(())
    } else {
        Err(format!("{raw:?} is not a valid scope (RFC 6749 §3.3)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("https://app.example.com/cb", false).is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:8081/callback", false).is_ok());
        assert!(validate_redirect_uri("http://localhost/cb", false).is_ok());
        assert!(validate_redirect_uri("http://[::1]:9000/cb", false).is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth", false).is_ok());
        assert_eq!(
            validate_redirect_uri("http://app.example.com/cb", false),
            Err(RedirectUriError::InsecureHttp("http://app.example.com/cb".into()))
        );
        assert!(validate_redirect_uri("http://app.example.com/cb", true).is_ok());
        assert!(matches!(validate_redirect_uri("https://a.example/cb#x", false), Err(RedirectUriError::Fragment(_))));
        assert!(matches!(validate_redirect_uri("https://a.example/cb#", false), Err(RedirectUriError::Fragment(_))));
        assert!(matches!(validate_redirect_uri("/cb", false), Err(RedirectUriError::NotAbsolute(_))));
        assert!(matches!(validate_redirect_uri("javascript:alert(1)", false), Err(RedirectUriError::BadScheme(_))));
        assert!(matches!(validate_redirect_uri("https://u:p@a.example/", false), Err(RedirectUriError::UserInfo(_))));
    }

    #[test]
    fn client_id_and_scope_rules() {
        assert!(validate_client_id("demo-rp").is_ok());
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("has space").is_err());
        assert!(validate_client_id(&"a".repeat(129)).is_err());
        assert!(validate_scope_token("openid").is_ok());
        assert!(validate_scope_token("latchkey:admin").is_ok());
        assert!(validate_scope_token("a b").is_err());
        assert!(validate_scope_token("a\"b").is_err());
        assert!(validate_scope_token("").is_err());
    }
}
