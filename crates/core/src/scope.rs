//! Scopes (RFC 6749 §3.3): parsing the space-delimited `scope` parameter and the scopes this
//! server knows.

use crate::client::validate_scope_token;

pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
pub const OFFLINE_ACCESS: &str = "offline_access";
pub const ROLES: &str = "roles";

/// The OpenID Connect scopes this server defines, as advertised in discovery (`scopes_supported`).
pub const OIDC_SCOPES: [&str; 5] = [OPENID, PROFILE, EMAIL, OFFLINE_ACCESS, ROLES];

/// Scopes that only mean something with an end-user: they are never granted to a
/// `client_credentials` token, which has no end-user (RFC 6749 §4.4).
pub const END_USER_SCOPES: [&str; 5] = OIDC_SCOPES;

/// Splits a `scope` parameter into its tokens, in order, without duplicates. `Err` names the first
/// malformed token (RFC 6749 §3.3 grammar).
pub fn parse_scope(raw: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    // RFC 6749 §3.3: "a list of space-delimited, case-sensitive strings"; only 0x20 separates.
    for token in raw.split(' ').filter(|s| !s.is_empty()) {
        validate_scope_token(token)?;
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// Joins scopes for a `scope` response parameter or claim.
pub fn join_scope(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn has_scope(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_without_duplicates() {
        assert_eq!(parse_scope("api:read  api:write api:read").unwrap(), ["api:read", "api:write"]);
        assert_eq!(parse_scope("").unwrap(), Vec::<String>::new());
        assert!(parse_scope("ok bad\"quote").is_err());
        assert!(parse_scope("tab\there").is_err(), "only a space separates scopes");
        assert_eq!(join_scope(&parse_scope("a b").unwrap()), "a b");
    }
}
