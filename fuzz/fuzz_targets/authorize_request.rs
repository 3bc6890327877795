//! The authorization request as `/authorize` receives it: a query string (or form body) decoded
//! into pairs, `RawAuthorizeRequest::from_pairs`, the client and redirect URI check and
//! `validate_request` against fixed registered clients, then what the endpoint does next with a
//! verified request (the authentication and consent decisions, the redirect back with a code or
//! an error). Anything may be refused; nothing may panic, and a verified redirect URI always
//! yields a redirect.

#![no_main]

use chrono::{DateTime, Duration, Utc};
use latchkey_core::authorize::{
    AuthorizePolicy, RawAuthorizeRequest, authentication_decision, consent_needed, redirect_url, validate_request,
    verify_client_and_redirect,
};
use latchkey_core::model::{Client, ClientId, GrantType, TokenEndpointAuthMethod};
use latchkey_core::scope::OIDC_SCOPES;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://id.example.com";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

/// A confidential client with two redirect URIs (one keeps its own query, RFC 6749 §3.1.2) and a
/// public first-party one with a single URI (which the request may then omit, §3.1.2.3).
fn client(id: &str) -> Option<Client> {
    let (uris, public): (&[&str], bool) = match id {
        "app" => (&["https://app.example/cb", "https://app.example/cb?from=fuzz"], false),
        "spa" => (&["http://127.0.0.1:8081/callback"], true),
        _ => return None,
    };
    Some(Client {
        id: ClientId(id.to_owned()),
        secret_hash: None,
        name: id.to_owned(),
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "offline_access", "api:read"].map(str::to_owned).to_vec(),
        public,
        first_party: public,
        token_endpoint_auth_method: if public {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretBasic
        },
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        id_token_lifetime: None,
        id_token_signed_response_alg: "RS256".to_owned(),
        from_config: false,
        created_at: now(),
        updated_at: now(),
    })
}

/// The server's policy (crates/server/src/http/authorize.rs): PKCE always, the OIDC scopes plus
/// the client's own.
fn policy(client: &Client) -> AuthorizePolicy {
    let mut supported: Vec<String> = OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    supported.extend(client.scopes.iter().filter(|s| !OIDC_SCOPES.contains(&s.as_str())).cloned());
    AuthorizePolicy { require_pkce: true, supported_scopes: supported }
}

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let Ok(raw) = RawAuthorizeRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) else {
        return;
    };
    let found = raw.client_id.as_deref().and_then(client);
    let Ok((client, redirect_uri, sent)) = verify_client_and_redirect(&raw, found) else {
        return;
    };
    let policy = policy(&client);
    match validate_request(&raw, client, redirect_uri.clone(), sent, &policy) {
        Ok(req) => {
            for auth_time in [None, Some(now() - Duration::seconds(30)), Some(now() - Duration::days(400))] {
                let _ = authentication_decision(&req, auth_time, false, now());
            }
            let _ = consent_needed(&req.client, Some(&["openid".to_owned()]), &req.scopes, req.prompt);
            let url = redirect_url(&req.redirect_uri, &[("code", "c0de")], req.state.as_deref(), ISSUER);
            assert!(url.is_some(), "a verified redirect URI always gives a redirect");
        }
        Err(err) => {
            let params = [("error", err.error), ("error_description", err.description.as_str())];
            let url = redirect_url(&redirect_uri, &params, raw.state.as_deref(), ISSUER);
            assert!(url.is_some(), "an error for a verified client always goes back by redirect");
        }
    }
});
