//! The refresh token grant's checks (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! Refresh tokens are always rotated: each use consumes the token (atomically, in the store) and
//! issues a successor in the same family. A token presented again after it was used means two
//! parties hold it, one of them an attacker; the whole family is revoked, live access tokens
//! included. The one exception is a short grace window for a client that legitimately raced two
//! refreshes (two tabs, a retry after a lost response): inside it the second request is refused
//! without burning the family.
//!
//! Every grant that issues tokens of a family stores them through [`insert_family_tokens`], which
//! closes the window between consuming a code or token and storing what it yields: a revocation
//! of the family in that window still ends every token of it.

use chrono::{DateTime, Duration, Utc};

use crate::error::{OAuthError, OAuthErrorCode, StoreResult};
use crate::grants::authorization_code::authentication_methods;
use crate::grants::{GrantContext, TokenRequest, TokenResponse};
use crate::model::{AccessTokenRecord, AccountId, Client, GrantType, RefreshToken, SessionId, TokenFamilyId};
use crate::scope::{OFFLINE_ACCESS, OPENID, has_scope, join_scope};
use crate::secret::{Secret, TokenHash};
use crate::store::{AccountStore, Consumed, GrantStore, RoleStore};
use crate::tokens::{AccessTokenRequest, IdTokenRequest, issue_access_token, issue_id_token};

/// Lifetimes and reuse handling of refresh tokens (server configuration, `[tokens]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Each token dies this long after it was issued unless rotated first (idle expiry); a
    /// client's own `refresh_token_lifetime` overrides it.
    pub idle_lifetime: Duration,
    /// The family dies this long after the code exchange, however often it is rotated.
    pub absolute_lifetime: Duration,
    /// A second use of a token within this window after the first is refused without revoking the family.
    pub reuse_grace: Duration,
    /// Issue refresh tokens to first-party clients even without `offline_access`.
    pub first_party_without_offline_access: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            idle_lifetime: Duration::days(30),
            absolute_lifetime: Duration::days(90),
            reuse_grace: Duration::seconds(5),
            first_party_without_offline_access: false,
        }
    }
}

impl RefreshPolicy {
    fn idle_for(&self, client: &Client) -> Duration {
        client.refresh_token_lifetime.filter(|s| *s > 0).map_or(self.idle_lifetime, Duration::seconds)
    }

    /// Does this grant get a refresh token? OIDC Core §11: `offline_access` asks for one; the client
    /// must also be allowed the refresh_token grant, or it could never use it.
    pub fn issues_refresh_token(&self, client: &Client, scopes: &[String]) -> bool {
        client.grant_types.contains(&GrantType::RefreshToken)
            && (has_scope(scopes, OFFLINE_ACCESS) || (client.first_party && self.first_party_without_offline_access))
    }

    /// A brand-new family's first token (from an authorization code). Returns the clear value and the record.
    pub fn first_token(&self, grant: NewFamily<'_>, now: DateTime<Utc>) -> (Secret, RefreshToken) {
        let family_expires_at = now + self.absolute_lifetime;
        let secret = Secret::generate();
        let token = RefreshToken {
            token_hash: secret.hash(),
            family_id: grant.family_id,
            parent_hash: None,
            client_id: grant.client.id.clone(),
            account_id: grant.account_id,
            session_id: grant.session_id,
            scopes: grant.scopes.to_vec(),
            auth_time: grant.auth_time,
            created_at: now,
            expires_at: (now + self.idle_for(grant.client)).min(family_expires_at),
            family_expires_at,
            used_at: None,
            revoked_at: None,
        };
        (secret, token)
    }

    /// The successor of `parent` in its family (RFC 9700 §4.14.2: rotation). Same scopes as the
    /// parent (RFC 6749 §6: the new refresh token's scope MUST be identical), same family deadline.
    pub fn rotate(&self, parent: &RefreshToken, client: &Client, now: DateTime<Utc>) -> (Secret, RefreshToken) {
        let secret = Secret::generate();
        let token = RefreshToken {
            token_hash: secret.hash(),
            family_id: parent.family_id,
            parent_hash: Some(parent.token_hash.clone()),
            client_id: parent.client_id.clone(),
            account_id: parent.account_id,
            session_id: parent.session_id,
            scopes: parent.scopes.clone(),
            auth_time: parent.auth_time,
            created_at: now,
            expires_at: (now + self.idle_for(client)).min(parent.family_expires_at),
            family_expires_at: parent.family_expires_at,
            used_at: None,
            revoked_at: None,
        };
        (secret, token)
    }
}

/// What a new refresh-token family starts from.
#[derive(Debug, Clone, Copy)]
pub struct NewFamily<'a> {
    pub client: &'a Client,
    pub account_id: AccountId,
    pub session_id: Option<SessionId>,
    pub family_id: TokenFamilyId,
    pub scopes: &'a [String],
    pub auth_time: DateTime<Utc>,
}

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

/// Stores the tokens a grant is about to hand out, all of `family`, then checks that the family was
/// not revoked meanwhile. Returns when it was revoked if it was: the caller then hands nothing out
/// (`invalid_grant`); the tokens just stored are revoked here.
///
/// The window: the grant consumed its code or parent refresh token, and only now stores the new
/// tokens. A replay of the code or a reuse of the parent (or `/revoke`) may revoke the family at any
/// moment in between, when its UPDATEs cannot see rows that do not exist yet. So the two sides
/// order their statements, each of which commits on its own and sees everything committed before
/// it starts (SQLite: one writer at a time; PostgreSQL: read committed, a snapshot per statement):
///
/// - `revoke_token_family` commits the family's revocation record, then updates the token rows;
/// - this function commits the token rows, then reads the revocation record.
///
/// If the revoker's UPDATE started after our inserts committed, it revoked our rows. Otherwise it
/// started before they committed, hence after its record committed, and our read, which follows
/// our inserts, sees the record: we revoke our own rows. Either way no token of a revoked family
/// stays valid, with no lock, on one node or many sharing the database. A node that dies between
/// the inserts and the read handed nothing out.
pub async fn insert_family_tokens<S: GrantStore + ?Sized>(
    store: &S,
    family: TokenFamilyId,
    access: AccessTokenRecord,
    refresh: Option<RefreshToken>,
    now: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    // Stored before they are handed out: a token nobody can revoke or introspect must not exist.
    store.insert_access_token(access).await?;
    if let Some(refresh) = refresh {
        store.insert_refresh_token(refresh).await?;
    }
    let revoked = store.find_family_revocation(family).await?;
    if revoked.is_some() {
        store.revoke_token_family(family, now).await?;
    }
    Ok(revoked)
}

/// The refresh token grant (RFC 6749 §6): consume, check, rotate, issue.
pub async fn exchange<S: GrantStore + AccountStore + RoleStore + ?Sized>(
    ctx: &GrantContext<'_, S>,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if !client.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::new(OAuthErrorCode::UnauthorizedClient, "This client may not use refresh tokens."));
    }
    let presented =
        req.refresh_token.as_deref().ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
    let hash = TokenHash::of(presented);
    let invalid = || OAuthError::invalid_grant("The refresh token is invalid, expired or revoked.");

    // Requests that fail for reasons harmless to the grant (another client's token, a wider scope)
    // are answered before the token is consumed, so a client's mistake does not burn its grant.
    let found = ctx.store.find_refresh_token(&hash).await?.ok_or_else(invalid)?;
    if found.client_id != client.id {
        return Err(invalid().with_detail(RefreshRejection::OtherClient));
    }
    if let Err(rejection @ RefreshRejection::ScopeWidened(_)) =
        check_refresh(&found, true, client, req.scope.as_deref(), ctx.now, ctx.refresh.reuse_grace)
    {
        return Err(OAuthError::invalid_scope("The requested scope exceeds the original grant.").with_detail(rejection));
    }

    let (token, first_use) = match ctx.store.consume_refresh_token(&hash, ctx.now).await? {
        Consumed::Now(t) => (t, true),
        Consumed::Already(t) => (t, false),
        Consumed::Missing => return Err(invalid()),
    };
    let scopes = match check_refresh(&token, first_use, client, req.scope.as_deref(), ctx.now, ctx.refresh.reuse_grace)
    {
        Ok(scopes) => scopes,
        Err(rejection) => {
            let mut detail = rejection.to_string();
            if rejection.revokes_family() {
                // RFC 9700 §4.14.2: a used token presented again means two holders; end them all.
                let revoked = ctx.store.revoke_token_family(token.family_id, ctx.now).await?;
                detail = format!("{detail} ({revoked} tokens revoked in family {})", token.family_id);
            }
            let error = match rejection {
                RefreshRejection::ScopeWidened(_) => {
                    OAuthError::invalid_scope("The requested scope exceeds the original grant.")
                }
                _ => invalid(),
            };
            return Err(error.with_detail(detail));
        }
    };

    let account = match ctx.store.find_account(token.account_id).await? {
        Some(a) if !a.disabled => a,
        _ => return Err(invalid().with_detail("the account is gone or disabled")),
    };
    let roles = ctx.store.roles_of(account.id).await?;
    let (new_secret, new_token) = ctx.refresh.rotate(&token, client, ctx.now);
    let access = issue_access_token(
        ctx.keys,
        ctx.settings,
        ctx.issuer,
        AccessTokenRequest {
            client,
            account: Some(account.id),
            scopes: &scopes,
            roles: &roles,
            auth_time: Some(token.auth_time),
            session_id: token.session_id,
            family_id: Some(token.family_id),
        },
        ctx.now,
    )
    .map_err(OAuthError::server_error)?;
    // OIDC Core §12.2: an ID token comes back when the grant includes openid; auth_time and amr
    // stay the original authentication's, and there is no nonce (none was sent with this request).
    let amr = authentication_methods();
    let id_token = if has_scope(&scopes, OPENID) {
        let request = IdTokenRequest {
            client,
            account: &account,
            roles: &roles,
            scopes: &scopes,
            auth_time: token.auth_time,
            nonce: None,
            access_token: Some(&access.token),
            session_id: token.session_id,
            amr: &amr,
        };
        Some(issue_id_token(ctx.keys, ctx.settings, ctx.issuer, &request, ctx.now).map_err(OAuthError::server_error)?.0)
    } else {
        None
    };
    // RFC 9700 §4.14.2: a reuse of the parent (or its revocation) racing this rotation revokes the
    // family; then the child must die with it, not outlive it.
    if let Some(revoked_at) =
        insert_family_tokens(ctx.store, token.family_id, access.record, Some(new_token), ctx.now).await?
    {
        return Err(invalid().with_detail(format!(
            "family {} was revoked at {revoked_at} during this rotation; the new tokens are revoked",
            token.family_id
        )));
    }
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: Some(join_scope(&scopes)),
        refresh_token: Some(new_secret.expose().to_owned()),
        id_token,
    })
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
