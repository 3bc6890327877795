//! The UserInfo endpoint's rules (OpenID Connect Core §5.3): which access token may read what.

use chrono::{DateTime, Utc};

use crate::error::{OAuthError, OAuthErrorCode};
use crate::jws::KeyRing;
use crate::scope::{OPENID, ROLES, has_scope};
use crate::store::{AccessTokenWithAccount, BearerStore, RoleStore};
use crate::tokens::{UserInfo, user_claims, verify_access_token};

fn invalid() -> OAuthError {
    OAuthError::invalid_token("The access token is invalid, expired or revoked.")
}

/// The claims the access token's scopes release about its end-user. A bad, expired or revoked
/// token, and a token whose account is gone or disabled, are `invalid_token` (RFC 6750 §3.1).
pub async fn userinfo<S: BearerStore + RoleStore + ?Sized>(
    store: &S,
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<UserInfo, OAuthError> {
    let claims = verify_access_token(ring, issuer, token, now).map_err(|e| invalid().with_detail(e))?;
    // One query for the record, its account and (when the signed scope asks for them) its roles.
    // The record, not the signature, knows about revocation; and the scopes are the record's.
    let signed_roles = claims.scope.as_deref().is_some_and(|s| s.split(' ').any(|s| s == ROLES));
    let found = store.find_access_token_with_account(&claims.jti, signed_roles).await?;
    let AccessTokenWithAccount { record, account, roles } = found.ok_or_else(invalid)?;
    if record.revoked_at.is_some() || record.expires_at <= now {
        return Err(invalid().with_detail("revoked or expired record"));
    }
    // OIDC Core §5.3: userinfo serves tokens from OpenID Connect requests only.
    if !has_scope(&record.scopes, OPENID) {
        return Err(OAuthError::new(OAuthErrorCode::InsufficientScope, "The access token lacks the openid scope."));
    }
    // A client_credentials token has no end-user to describe.
    if record.account_id.is_none() {
        return Err(invalid());
    }
    let account = match account {
        Some(a) if !a.disabled => a,
        _ => return Err(invalid().with_detail("account deleted or disabled")),
    };
    let roles = match (has_scope(&record.scopes, ROLES), signed_roles) {
        (false, _) => Vec::new(),
        (true, true) => roles,
        // The record grants roles the signed scope did not name (records are written with the
        // token's scopes, so this does not happen): ask for them rather than answer none.
        (true, false) => store.roles_of(account.id).await?,
    };
    Ok(UserInfo { sub: account.id.to_string(), claims: user_claims(&account, &roles, &record.scopes) })
}
