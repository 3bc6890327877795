//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. No end-user, so no ID token, no refresh token (§4.4.3), and no end-user scopes.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::grants::{GrantContext, TokenRequest, TokenResponse};
use crate::model::{Client, GrantType};
use crate::scope::{END_USER_SCOPES, join_scope, parse_scope};
use crate::store::GrantStore;
use crate::tokens::{AccessTokenRequest, issue_access_token};

/// The scopes to grant: the requested ones, each of which the client must be allowed, or, when
/// none are requested, every scope the client is allowed (RFC 6749 §3.3 lets the server apply a
/// pre-defined default). End-user scopes are never granted here.
pub fn grant_scopes(client: &Client, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let machine = |s: &String| !END_USER_SCOPES.contains(&s.as_str());
    let Some(raw) = requested else {
        return Ok(client.scopes.iter().filter(|s| machine(s)).cloned().collect());
    };
    let requested =
        parse_scope(raw).map_err(|e| OAuthError::invalid_scope("The scope parameter is malformed.").with_detail(e))?;
    for scope in &requested {
        if !machine(scope) {
            return Err(OAuthError::invalid_scope(format!(
                "The {scope:?} scope needs an end-user; client_credentials has none."
            )));
        }
        if !client.scopes.contains(scope) {
            return Err(OAuthError::invalid_scope(format!("The client may not request the {scope:?} scope.")));
        }
    }
    Ok(requested)
}

pub async fn exchange<S: GrantStore + ?Sized>(
    ctx: &GrantContext<'_, S>,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: only confidential clients; §5.2: a client not allowed this grant is unauthorized_client.
    if client.public || !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "This client may not use the client_credentials grant.",
        ));
    }
    let scopes = grant_scopes(client, req.scope.as_deref())?;
    let request = AccessTokenRequest {
        client,
        account: None,
        scopes: &scopes,
        roles: &[],
        auth_time: None,
        session_id: None,
        family_id: None,
    };
    let issued =
        issue_access_token(ctx.keys, ctx.settings, ctx.issuer, request, ctx.now).map_err(OAuthError::server_error)?;
    // Recorded before it is handed out: a token nobody can revoke or introspect must not exist.
    ctx.store.insert_access_token(issued.record).await?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: Some(join_scope(&scopes)),
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, TokenEndpointAuthMethod};
    use chrono::{DateTime, Utc};

    fn client(scopes: &[&str]) -> Client {
        let now: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Client {
            id: ClientId("svc".into()),
            secret_hash: None,
            name: "svc".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            public: false,
            first_party: false,
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            id_token_lifetime: None,
            id_token_signed_response_alg: "RS256".into(),
            from_config: false,
            created_at: now,
            updated_at: now,
        }
    }

    fn code(r: Result<Vec<String>, OAuthError>) -> Option<&'static str> {
        r.err().map(|e| e.code.as_str())
    }

    #[test]
    fn scope_narrowing() {
        let c = client(&["openid", "api:read", "api:write"]);
        assert_eq!(grant_scopes(&c, None).unwrap(), ["api:read", "api:write"], "default: the client's machine scopes");
        assert_eq!(grant_scopes(&c, Some("api:read")).unwrap(), ["api:read"]);
        assert_eq!(grant_scopes(&c, Some("")).unwrap(), Vec::<String>::new());
        assert_eq!(code(grant_scopes(&c, Some("api:admin"))), Some("invalid_scope"));
        assert_eq!(code(grant_scopes(&c, Some("openid api:read"))), Some("invalid_scope"));
        assert_eq!(code(grant_scopes(&c, Some("bad\\scope"))), Some("invalid_scope"));
    }
}
