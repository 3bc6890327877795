//! The authorization code grant's checks on a consumed code (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! Consuming the code is the store's job and is atomic; a code found already consumed is a
//! replay, and the caller revokes every token issued from it (RFC 6749 §4.1.2: "If an
//! authorization code is used more than once, the authorization server MUST deny the request and
//! SHOULD revoke (when possible) all tokens previously issued based on that authorization code").
//! What is left is checking that this client, with this redirect URI and this verifier, may
//! redeem this code now.

use chrono::{DateTime, Utc};

use crate::authorize::verify_pkce;
use crate::model::{AuthorizationCode, Client};

/// Why a code cannot be redeemed. All are `invalid_grant` on the wire; the reason is for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRejection {
    #[error("the code was issued to another client")]
    OtherClient,
    #[error("the code has expired")]
    Expired,
    #[error("redirect_uri does not match the authorization request")]
    RedirectMismatch,
    #[error("redirect_uri is required")]
    RedirectMissing,
    #[error("code_verifier is required")]
    VerifierMissing,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    /// RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
    #[error("code_verifier sent for a code issued without a code_challenge")]
    PkceDowngrade,
}

/// The checks, in the order RFC 6749 §4.1.3 lists them.
pub fn check_code(
    code: &AuthorizationCode,
    client: &Client,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), CodeRejection> {
    if code.client_id != client.id {
        return Err(CodeRejection::OtherClient);
    }
    if now >= code.expires_at {
        return Err(CodeRejection::Expired);
    }
    match redirect_uri {
        Some(uri) if uri != code.redirect_uri => return Err(CodeRejection::RedirectMismatch),
        Some(_) => {}
        // Omitting it is fine only where the authorization request could omit it too: a client
        // with exactly one registered URI (RFC 6749 §3.1.2.3, §4.1.3).
        None if client.redirect_uris.len() == 1 => {}
        None => return Err(CodeRejection::RedirectMissing),
    }
    match (&code.code_challenge, code_verifier) {
        (Some(_), None) => Err(CodeRejection::VerifierMissing),
        (Some(challenge), Some(verifier)) if !verify_pkce(verifier, challenge) => Err(CodeRejection::VerifierMismatch),
        (Some(_), Some(_)) | (None, None) => Ok(()),
        (None, Some(_)) => Err(CodeRejection::PkceDowngrade),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, ClientId, GrantType, TokenEndpointAuthMethod, TokenFamilyId};
    use crate::secret::TokenHash;
    use chrono::Duration;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636 Appendix B
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn client(id: &str, uris: &[&str]) -> Client {
        Client {
            id: ClientId(id.into()),
            secret_hash: None,
            name: id.into(),
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
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

    fn code(challenge: Option<&str>) -> AuthorizationCode {
        AuthorizationCode {
            code_hash: TokenHash::of("code"),
            client_id: ClientId("app".into()),
            account_id: AccountId::new(),
            session_id: None,
            redirect_uri: "https://app.example/cb".into(),
            scopes: vec!["openid".into()],
            nonce: None,
            code_challenge: challenge.map(str::to_owned),
            code_challenge_method: challenge.map(|_| "S256".to_owned()),
            family_id: TokenFamilyId::new(),
            auth_time: now(),
            created_at: now(),
            expires_at: now() + Duration::seconds(60),
            consumed_at: Some(now()),
        }
    }

    #[test]
    fn code_checks_in_order() {
        let two = client("app", &["https://app.example/cb", "https://app.example/other"]);
        let one = client("app", &["https://app.example/cb"]);
        let c = code(Some(CHALLENGE));
        let cb = Some("https://app.example/cb");
        let at = now() + Duration::seconds(5);
        assert_eq!(check_code(&c, &two, cb, Some(VERIFIER), at), Ok(()));
        assert_eq!(
            check_code(&c, &client("evil", &["https://app.example/cb"]), cb, Some(VERIFIER), at),
            Err(CodeRejection::OtherClient)
        );
        assert_eq!(
            check_code(&c, &two, cb, Some(VERIFIER), now() + Duration::seconds(60)),
            Err(CodeRejection::Expired)
        );
        assert_eq!(
            check_code(&c, &two, Some("https://app.example/other"), Some(VERIFIER), at),
            Err(CodeRejection::RedirectMismatch)
        );
        assert_eq!(check_code(&c, &two, None, Some(VERIFIER), at), Err(CodeRejection::RedirectMissing));
        assert_eq!(check_code(&c, &one, None, Some(VERIFIER), at), Ok(()));
        assert_eq!(check_code(&c, &two, cb, None, at), Err(CodeRejection::VerifierMissing));
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
        assert_eq!(check_code(&c, &two, cb, Some(wrong), at), Err(CodeRejection::VerifierMismatch));
        let plain = code(None);
        assert_eq!(check_code(&plain, &two, cb, None, at), Ok(()));
        assert_eq!(check_code(&plain, &two, cb, Some(VERIFIER), at), Err(CodeRejection::PkceDowngrade));
    }
}
