//! The refresh token grant's checks (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! Refresh tokens are always rotated: each use consumes the token (atomically, in the store) and
//! issues a successor in the same family. A token presented again after it was used means two
//! parties hold it, one of them an attacker; the whole family is revoked, live access tokens
//! included. The one exception is a short grace window for a client that legitimately raced two
//! refreshes (two tabs, a retry after a lost response): inside it the second request is refused
//! without burning the family.

use chrono::{DateTime, Duration, Utc};

use crate::model::{Client, RefreshToken};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshRejection {
    #[error("the refresh token was issued to another client")]
    OtherClient,
    #[error("the refresh token has been revoked")]
    Revoked,
    #[error("the refresh token has expired")]
    Expired,
    /// Reuse after the grace window: revoke the family.
    #[error("the refresh token was already used: its family is revoked")]
    Reused,
    /// Reuse inside the grace window: refuse, keep the family.
    #[error("the refresh token was just used by a concurrent request")]
    ConcurrentUse,
    /// `invalid_scope` on the wire (RFC 6749 §6: the scope may only narrow).
    #[error("the requested scope {0:?} exceeds the original grant")]
    ScopeWidened(String),
}

impl RefreshRejection {
    /// The RFC 6749 §5.2 error code.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::ScopeWidened(_) => "invalid_scope",
            _ => "invalid_grant",
        }
    }

    /// Must the caller revoke the token's family?
    pub fn revokes_family(&self) -> bool {
        matches!(self, Self::Reused)
    }
}

/// Checks a refresh token that the store just tried to consume. `first_use` is true when this
/// request consumed it, false when it had been consumed before. Returns the scopes to grant.
pub fn check_refresh(
    token: &RefreshToken,
    first_use: bool,
    client: &Client,
    requested_scope: Option<&str>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Vec<String>, RefreshRejection> {
    // RFC 6749 §6: the token is bound to the client it was issued to.
    if token.client_id != client.id {
        return Err(RefreshRejection::OtherClient);
    }
    if token.revoked_at.is_some() {
        return Err(RefreshRejection::Revoked);
    }
    if !first_use {
        let used = token.used_at.unwrap_or(now);
        return Err(if now - used <= grace { RefreshRejection::ConcurrentUse } else { RefreshRejection::Reused });
    }
    if now >= token.expires_at || now >= token.family_expires_at {
        return Err(RefreshRejection::Expired);
    }
    match requested_scope {
        None => Ok(token.scopes.clone()),
        Some(scope) => {
            let mut granted = Vec::new();
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                if !token.scopes.iter().any(|t| t == s) {
                    return Err(RefreshRejection::ScopeWidened(s.to_owned()));
                }
                if !granted.iter().any(|g| g == s) {
                    granted.push(s.to_owned());
                }
            }
            Ok(granted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, ClientId, GrantType, TokenEndpointAuthMethod, TokenFamilyId};
    use crate::secret::TokenHash;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn client(id: &str) -> Client {
        Client {
            id: ClientId(id.into()),
            secret_hash: None,
            name: id.into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec![],
            public: false,
            first_party: false,
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            id_token_lifetime: None,
            id_token_signed_response_alg: "RS256".into(),
            from_config: false,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn token() -> RefreshToken {
        RefreshToken {
            token_hash: TokenHash::of("rt"),
            family_id: TokenFamilyId::new(),
            parent_hash: None,
            client_id: ClientId("app".into()),
            account_id: AccountId::new(),
            session_id: None,
            scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
            auth_time: now(),
            created_at: now(),
            expires_at: now() + Duration::days(30),
            family_expires_at: now() + Duration::days(90),
            used_at: Some(now()),
            revoked_at: None,
        }
    }

    #[test]
    fn refresh_checks() {
        let app = client("app");
        let grace = Duration::seconds(5);
        let at = now() + Duration::seconds(1);
        let t = token();
        assert_eq!(check_refresh(&t, true, &app, None, at, grace), Ok(t.scopes.clone()));
        assert_eq!(check_refresh(&t, true, &app, Some("openid openid"), at, grace), Ok(vec!["openid".to_owned()]));
        let widened = check_refresh(&t, true, &app, Some("openid profile"), at, grace).unwrap_err();
        assert_eq!((widened.error_code(), widened.revokes_family()), ("invalid_scope", false));
        assert_eq!(check_refresh(&t, true, &client("other"), None, at, grace), Err(RefreshRejection::OtherClient));
        let revoked = RefreshToken { revoked_at: Some(now()), ..t.clone() };
        assert_eq!(check_refresh(&revoked, true, &app, None, at, grace), Err(RefreshRejection::Revoked));
        assert_eq!(
            check_refresh(&t, true, &app, None, now() + Duration::days(30), grace),
            Err(RefreshRejection::Expired)
        );
        let old_family = RefreshToken { family_expires_at: now() + Duration::seconds(1), ..t.clone() };
        assert_eq!(check_refresh(&old_family, true, &app, None, at, grace), Err(RefreshRejection::Expired));
        // A second use: within the grace window refused without revoking; after it, the family goes.
        let concurrent = check_refresh(&t, false, &app, None, now() + Duration::seconds(3), grace).unwrap_err();
        assert_eq!((concurrent.clone(), concurrent.revokes_family()), (RefreshRejection::ConcurrentUse, false));
        let reused = check_refresh(&t, false, &app, None, now() + Duration::seconds(6), grace).unwrap_err();
        assert_eq!(
            (reused.clone(), reused.revokes_family(), reused.error_code()),
            (RefreshRejection::Reused, true, "invalid_grant")
        );
    }
}
