//! Token introspection (RFC 7662) and revocation (RFC 7009) of the tokens we issue.
//!
//! Access tokens are JWTs: their signature and `jti` record decide. Refresh tokens are opaque
//! random strings found by hash. A JWT has two dots and a refresh token none, so the shape tells
//! them apart and `token_type_hint` is never needed (RFC 7662 §2.1 lets the server ignore it).
//! Nothing here tells a caller more than "active" or "not active": unknown, expired, revoked and
//! other clients' tokens all look the same.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::OAuthError;
use crate::jws::{Expect, KeyRing};
use crate::model::{Account, AccountId, Client};
use crate::scope::join_scope;
use crate::secret::TokenHash;
use crate::store::{AccessTokenWithAccount, BearerStore, GrantStore};
use crate::tokens::{ACCESS_TOKEN_TYP, AccessTokenClaims, verify_access_token};

/// An introspection response (RFC 7662 §2.2). Inactive tokens are `{"active": false}` and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self::default()
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Whose username to show, if the token's account (`account_id`, read as `account`) may still use
/// tokens; `Err(())` when it may not (deleted or disabled: its tokens are no longer active). A token
/// without an account (`client_credentials`) has no username.
fn live_username(account_id: Option<AccountId>, account: Option<Account>) -> Result<Option<String>, ()> {
    match (account_id, account) {
        (None, _) => Ok(None),
        (Some(_), Some(a)) if !a.disabled => Ok(Some(a.username)),
        (Some(_), _) => Err(()),
    }
}

/// RFC 7662 §2.2. `caller` is the authenticated client: it sees its own tokens, and a resource
/// server registered as a client sees tokens whose `aud` is its client id.
pub async fn introspect<S: GrantStore + BearerStore + ?Sized>(
    store: &S,
    ring: &KeyRing,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Introspection, OAuthError> {
    if looks_like_jwt(token) {
        let Ok(claims) = verify_access_token(ring, issuer, token, now) else { return Ok(Introspection::inactive()) };
        // The record and its account in one query: this is the endpoint's hot path.
        let Some(AccessTokenWithAccount { record, account, .. }) =
            store.find_access_token_with_account(&claims.jti, false).await?
        else {
            return Ok(Introspection::inactive());
        };
        let allowed = caller.id == record.client_id || caller.id.0 == claims.aud;
        if record.revoked_at.is_some() || record.expires_at <= now || !allowed {
            return Ok(Introspection::inactive());
        }
        let Ok(username) = live_username(record.account_id, account) else {
            return Ok(Introspection::inactive());
        };
        let AccessTokenClaims { iss, sub, aud, client_id, iat, exp, jti, scope, .. } = claims;
        return Ok(Introspection {
            active: true,
            scope,
            client_id: Some(client_id),
            username,
            token_type: Some("Bearer"),
            exp: Some(exp),
            iat: Some(iat),
            sub: Some(sub),
            aud: Some(aud),
            iss: Some(iss),
            jti: Some(jti),
        });
    }
    let Some((refresh, account)) = store.find_refresh_token_with_account(&TokenHash::of(token)).await? else {
        return Ok(Introspection::inactive());
    };
    // A used refresh token has been rotated away: only its successor is active.
    let dead = refresh.revoked_at.is_some()
        || refresh.used_at.is_some()
        || refresh.expires_at <= now
        || refresh.family_expires_at <= now;
    if dead || refresh.client_id != caller.id {
        return Ok(Introspection::inactive());
    }
    let Ok(username) = live_username(Some(refresh.account_id), account) else {
        return Ok(Introspection::inactive());
    };
    Ok(Introspection {
        active: true,
        scope: Some(join_scope(&refresh.scopes)),
        client_id: Some(refresh.client_id.0.clone()),
        username,
        token_type: None,
        exp: Some(refresh.expires_at.timestamp()),
        iat: Some(refresh.created_at.timestamp()),
        sub: Some(refresh.account_id.to_string()),
        aud: Some(refresh.client_id.0),
        iss: Some(issuer.to_owned()),
        jti: None,
    })
}

/// RFC 7009 §2.1. Revokes the token if it is the caller's: an access token by its `jti`, a
/// refresh token with its whole family (and so every access token of that grant). Anything else
/// (unknown, malformed, another client's) is quietly ignored: §2.2 answers 200 for invalid
/// tokens, and a different answer for other clients' tokens would tell a thief which stolen
/// tokens are live.
pub async fn revoke<S: GrantStore + ?Sized>(
    store: &S,
    ring: &KeyRing,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    if looks_like_jwt(token) {
        // Expired tokens may be revoked too (a no-op in effect, but not an error).
        let expect = Expect { issuer, typ: ACCESS_TOKEN_TYP, allow_expired: true };
        let Ok(data) = ring.verify::<AccessTokenClaims>(token, expect, now) else { return Ok(()) };
        if let Some(record) = store.find_access_token(&data.claims.jti).await?
            && record.client_id == caller.id
            && record.revoked_at.is_none()
        {
            store.revoke_access_token(&record.jti, now).await?;
        }
        return Ok(());
    }
    if let Some(refresh) = store.find_refresh_token(&TokenHash::of(token)).await?
        && refresh.client_id == caller.id
    {
        store.revoke_token_family(refresh.family_id, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_is_only_active_false() {
        assert_eq!(serde_json::to_string(&Introspection::inactive()).unwrap(), r#"{"active":false}"#);
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("opaque-refresh-token"));
    }

    #[test]
    fn only_a_live_account_keeps_its_tokens_active() {
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        let account = |disabled| Account {
            id: AccountId::new(),
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            email_verified: true,
            password_hash: None,
            display_name: None,
            disabled,
            password_change_required: false,
            created_at: at,
            updated_at: at,
        };
        let id = Some(AccountId::new());
        assert_eq!(live_username(None, None), Ok(None), "client_credentials: active, no username");
        assert_eq!(live_username(id, Some(account(false))), Ok(Some("alice".to_owned())));
        assert_eq!(live_username(id, Some(account(true))), Err(()), "disabled");
        assert_eq!(live_username(id, None), Err(()), "deleted");
    }
}
