//! The authorization code grant's checks on a consumed code (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! Consuming the code is the store's job and is atomic; a code found already consumed is a
//! replay, and the caller revokes every token issued from it (RFC 6749 §4.1.2: "If an
//! authorization code is used more than once, the authorization server MUST deny the request and
//! SHOULD revoke (when possible) all tokens previously issued based on that authorization code").
//! What is left is checking that this client, with this redirect URI and this verifier, may
//! redeem this code now.
//!
//! A replay may also arrive after the first redemption consumed the code but before it stored its
//! tokens, when there is nothing yet to revoke. The replay's revocation records the family as
//! revoked, and the first redemption reads that record after storing its tokens
//! ([`insert_family_tokens`] explains the ordering): it then revokes them and answers
//! `invalid_grant`, so the leaked code never wins.

use chrono::{DateTime, Duration, Utc};

use crate::authorize::{ValidatedAuthorize, verify_pkce};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::grants::refresh_token::{NewFamily, insert_family_tokens};
use crate::grants::{GrantContext, TokenRequest, TokenResponse};
use crate::model::{AccountId, AuthorizationCode, Client, GrantType, SessionId, TokenFamilyId};
use crate::scope::{OPENID, has_scope, join_scope};
use crate::secret::{Secret, TokenHash};
use crate::store::{AccountStore, Consumed, GrantStore, RoleStore};
use crate::tokens::{AccessTokenRequest, IdTokenRequest, issue_access_token, issue_id_token};

/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"; ours is
/// one minute, the issue's limit: the client redeems it immediately after the redirect.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);

/// Authentication methods of a password sign-in (RFC 8176 §2: `pwd`).
pub const AMR_PASSWORD: &str = "pwd";

/// The `amr` of the ID tokens of a grant (OIDC Core §2). Every sign-in is a password today, so
/// neither codes nor refresh tokens record the method: the code grant and the refresh grant (OIDC
/// Core §12.2: the refreshed ID token keeps the original authentication's claims) both take it from
/// here. A second sign-in method must store its `amr` on the code and carry it on the family.
pub fn authentication_methods() -> [String; 1] {
    [AMR_PASSWORD.to_owned()]
}

/// A new authorization code for a validated request and the signed-in person: the clear value
/// for the redirect, and the record (hash only) for the store.
pub fn issue_code(
    req: &ValidatedAuthorize,
    account_id: AccountId,
    session_id: SessionId,
    auth_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Secret, AuthorizationCode) {
    let secret = Secret::generate();
    let code = AuthorizationCode {
        code_hash: secret.hash(),
        client_id: req.client.id.clone(),
        account_id,
        session_id: Some(session_id),
        redirect_uri: req.redirect_uri.clone(),
        scopes: req.scopes.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge.as_ref().map(|_| "S256".to_owned()),
        // Every token issued from this code joins this family, so a replay can revoke them all.
        family_id: TokenFamilyId::new(),
        auth_time,
        created_at: now,
        expires_at: now + CODE_LIFETIME,
        consumed_at: None,
    };
    (secret, code)
}

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

/// The authorization code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3).
pub async fn exchange<S: GrantStore + AccountStore + RoleStore + ?Sized>(
    ctx: &GrantContext<'_, S>,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "This client may not use the authorization_code grant.",
        ));
    }
    let presented = req.code.as_deref().ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let invalid = || OAuthError::invalid_grant("The authorization code is invalid, expired or already used.");
    let code = match ctx.store.consume_code(&TokenHash::of(presented), ctx.now).await? {
        Consumed::Now(code) => code,
        Consumed::Already(code) => {
            // RFC 6749 §4.1.2 / RFC 9700 §4.5: a second redemption means the code leaked; the
            // tokens of the first one are revoked, whoever presents it now.
            let revoked = ctx.store.revoke_token_family(code.family_id, ctx.now).await?;
            return Err(invalid().with_detail(format!(
                "code replayed by client {}; {revoked} tokens of family {} revoked",
                client.id, code.family_id
            )));
        }
        Consumed::Missing => return Err(invalid().with_detail("unknown code")),
    };
    check_code(&code, client, req.redirect_uri.as_deref(), req.code_verifier.as_deref(), ctx.now)
        .map_err(|rejection| invalid().with_detail(rejection))?;

    let account = match ctx.store.find_account(code.account_id).await? {
        Some(a) if !a.disabled => a,
        _ => return Err(invalid().with_detail("the account is gone or disabled")),
    };
    let roles = ctx.store.roles_of(account.id).await?;
    let access = issue_access_token(
        ctx.keys,
        ctx.settings,
        ctx.issuer,
        AccessTokenRequest {
            client,
            account: Some(account.id),
            scopes: &code.scopes,
            roles: &roles,
            auth_time: Some(code.auth_time),
            session_id: code.session_id,
            family_id: Some(code.family_id),
        },
        ctx.now,
    )
    .map_err(OAuthError::server_error)?;
    let amr = authentication_methods();
    let id_token = if has_scope(&code.scopes, OPENID) {
        let request = IdTokenRequest {
            client,
            account: &account,
            roles: &roles,
            scopes: &code.scopes,
            auth_time: code.auth_time,
            // OIDC Core §3.1.3.7 step 11: the nonce of the authorization request, exactly.
            nonce: code.nonce.as_deref(),
            access_token: Some(&access.token),
            session_id: code.session_id,
            amr: &amr,
        };
        Some(issue_id_token(ctx.keys, ctx.settings, ctx.issuer, &request, ctx.now).map_err(OAuthError::server_error)?.0)
    } else {
        None
    };
    let refresh = ctx.refresh.issues_refresh_token(client, &code.scopes).then(|| {
        ctx.refresh.first_token(
            NewFamily {
                client,
                account_id: account.id,
                session_id: code.session_id,
                family_id: code.family_id,
                scopes: &code.scopes,
                auth_time: code.auth_time,
            },
            ctx.now,
        )
    });
    let (refresh_token, refresh_record) = refresh.unzip();
    // RFC 6749 §4.1.2: a replay racing this redemption (the code consumed, the tokens not stored
    // yet) must still revoke them.
    if let Some(revoked_at) =
        insert_family_tokens(ctx.store, code.family_id, access.record, refresh_record, ctx.now).await?
    {
        return Err(invalid().with_detail(format!(
            "code replayed during its redemption by client {}: family {} revoked at {revoked_at}, new tokens revoked",
            client.id, code.family_id
        )));
    }
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: Some(join_scope(&code.scopes)),
        refresh_token: refresh_token.map(|secret| secret.expose().to_owned()),
        id_token,
    })
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
