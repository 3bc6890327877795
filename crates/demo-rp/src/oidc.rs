//! Everything that talks to the provider, through the `openidconnect` crate: discovery, the
//! authorization URL (PKCE S256, `state`, `nonce`), the code exchange, ID token verification,
//! userinfo and the RP-initiated logout URL.
//!
//! The crate does the protocol checks; this module decides which ones to ask for and turns each
//! failure into something a person can read.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse as _, reqwest,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::config::Config;
use crate::session::PendingLogin;

/// Claims Latchkey adds beyond the OpenID Connect standard ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatchkeyClaims {
    /// The account's roles (the `roles` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The provider's session id (OIDC Front-Channel Logout §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AdditionalClaims for LatchkeyClaims {}

// The crate's `Core*` aliases with our additional claims in place of the empty ones.
pub type IdToken =
    openidconnect::IdToken<LatchkeyClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
pub type IdTokenClaims = openidconnect::IdTokenClaims<LatchkeyClaims, CoreGenderClaim>;
type UserInfoClaims = openidconnect::UserInfoClaims<LatchkeyClaims, CoreGenderClaim>;
type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        LatchkeyClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
/// A client built from discovery: authorization URL set, token and userinfo URLs "maybe set"
/// (discovery makes them optional), no device, introspection or revocation endpoints.
type Client = openidconnect::Client<
    LatchkeyClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovery metadata including `end_session_endpoint` (RP-Initiated Logout 1.0).
pub type ProviderMetadata = ProviderMetadataWithLogout;

/// Metadata is refetched after this long, so that signing keys the provider publishes ahead of a
/// rotation reach our JWKS copy before tokens are signed with them.
const METADATA_REFRESH: Duration = Duration::from_secs(10 * 60);
/// Upper bound for one call to the provider; a stuck provider must not hold a page forever.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The start-up discovery retries with doubling pauses, up to this one.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the pages show about the person who signed in.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    pub subject: String,
    /// What to call the person: `name`, else `preferred_username`, else the subject.
    pub display_name: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub roles: Vec<String>,
    /// Every claim of the verified ID token, for the table on the protected page.
    pub id_token_claims: Vec<ClaimRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    pub name: String,
    pub value: String,
    /// A reading aid, e.g. the UTC time of a timestamp claim.
    pub note: Option<String>,
}

/// Why a sign-in could not be completed. `detail` is for the log only: it may name internals.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the provider could not be reached: {detail}")]
    Unreachable { detail: String },
    #[error("the provider refused the request: {error}")]
    Refused { error: String, description: Option<String> },
    #[error("the provider's answer could not be understood: {detail}")]
    BadResponse { detail: String },
    #[error("the ID token was not valid: {detail}")]
    InvalidIdToken { detail: String },
}

/// A metadata document and when we fetched it.
#[derive(Debug)]
pub struct Discovered {
    pub metadata: ProviderMetadata,
    pub fetched_at: DateTime<Utc>,
}

/// The provider as this app knows it: our registration and the (cached) discovery metadata.
pub struct Provider {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_uri: RedirectUrl,
    post_logout_redirect_uri: PostLogoutRedirectUrl,
    scopes: Vec<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("issuer", &self.issuer.as_str()).field("client_id", &self.client_id).finish()
    }
}

impl Provider {
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let http = reqwest::ClientBuilder::new()
            // The openidconnect docs: following redirects opens the client up to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("latchkey-demo-rp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            issuer: IssuerUrl::new(config.issuer_str().to_owned())?,
            client_id: ClientId::new(config.client_id.clone()),
            client_secret: ClientSecret::new(config.client_secret.expose().to_owned()),
            redirect_uri: RedirectUrl::new(config.redirect_uri())?,
            post_logout_redirect_uri: PostLogoutRedirectUrl::new(config.post_logout_redirect_uri())?,
            scopes: config.scopes.clone(),
            http,
            clock,
            cache: Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether discovery has succeeded at least once (the home page says so when it has not).
    pub fn is_discovered(&self) -> bool {
        self.cached().is_some()
    }

    /// Fetches the discovery document (and, through it, the JWKS) now.
    pub async fn discover(&self) -> Result<Arc<Discovered>, LoginError> {
        let metadata = ProviderMetadata::discover_async(self.issuer.clone(), &self.http).await.map_err(|err| {
            use openidconnect::DiscoveryError as E;
            match err {
                E::Request(e) => LoginError::Unreachable { detail: error_chain(&e) },
                other => LoginError::BadResponse { detail: error_chain(&other) },
            }
        })?;
        let discovered = Arc::new(Discovered { metadata, fetched_at: self.clock.now() });
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&discovered));
        Ok(discovered)
    }

    /// The metadata: the cached copy while fresh, else fetched again. A stale copy is still used
    /// when the provider cannot be reached right now: the next call to it will say so anyway.
    pub async fn metadata(&self) -> Result<Arc<Discovered>, LoginError> {
        let cached = self.cached();
        if let Some(d) = &cached {
            let age = self.clock.now().signed_duration_since(d.fetched_at);
            if age.to_std().is_ok_and(|age| age < METADATA_REFRESH) {
                return Ok(Arc::clone(d));
            }
        }
        match (self.discover().await, cached) {
            (Ok(fresh), _) => Ok(fresh),
            (Err(err), Some(stale)) => {
                tracing::warn!(error = %err, "could not refresh the provider metadata; using the copy we have");
                Ok(stale)
            }
            (Err(err), None) => Err(err),
        }
    }

    /// Start-up discovery: tries until it succeeds (or until a page's lazy discovery did), with
    /// doubling pauses. The app serves pages meanwhile, so it can start before the provider.
    pub async fn discover_with_retry(&self) {
        let mut pause = Duration::from_secs(1);
        loop {
            if self.is_discovered() {
                return;
            }
            match self.discover().await {
                Ok(_) => {
                    tracing::info!(issuer = self.issuer.as_str(), "provider metadata loaded");
                    return;
                }
                Err(err) => tracing::warn!(
                    issuer = self.issuer.as_str(),
                    error = %err,
                    retry_in = ?pause,
                    "provider not reachable yet; sign-in will work once it is"
                ),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }

    fn client(&self, discovered: &Discovered) -> Client {
        Client::from_provider_metadata(
            discovered.metadata.clone(),
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }

    /// Starts the authorization code flow: the URL to send the browser to, and what to remember
    /// until it comes back.
    pub async fn begin_login(&self, return_to: String) -> Result<(Url, PendingLogin), LoginError> {
        let discovered = self.metadata().await?;
        let client = self.client(&discovered);
        // RFC 9700 §2.1.1: PKCE with S256 even for a confidential client.
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        // The crate adds `openid` itself.
        for scope in self.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let login = PendingLogin { state, nonce, pkce_verifier, return_to, created_at: self.clock.now() };
        Ok((url, login))
    }

    /// Completes the flow once `state` has been checked: exchanges the code (with the PKCE
    /// verifier), verifies the ID token and its `at_hash`, and fetches userinfo.
    pub async fn finish_login(&self, login: PendingLogin, code: String) -> Result<(SignedIn, IdToken), LoginError> {
        let discovered = self.metadata().await?;
        let client = self.client(&discovered);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::BadResponse { detail: format!("no token endpoint in the metadata: {e}") })?
            .set_pkce_verifier(login.pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(token_error)?;

        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::InvalidIdToken { detail: "the token response has no id_token".into() })?;
        let clock = Arc::clone(&self.clock);
        // Signature against the provider's JWKS, `iss`, `aud` (and `azp`), `exp`, `iat` and the
        // nonce we sent: OIDC Core §3.1.3.7, all done by the crate.
        let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
        let claims = id_token
            .claims(&verifier, &login.nonce)
            .map_err(|e| LoginError::InvalidIdToken { detail: error_chain(&e) })?;

        // OIDC Core §3.1.3.8: when the ID token has `at_hash`, the access token must match it
        // (otherwise someone may have swapped in another person's access token).
        if let Some(expected) = claims.access_token_hash() {
            let invalid = |e: &dyn std::error::Error| LoginError::InvalidIdToken { detail: error_chain(e) };
            let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key).map_err(|e| invalid(&e))?;
            if actual != *expected {
                return Err(LoginError::InvalidIdToken { detail: "at_hash does not match the access token".into() });
            }
        }

        // Userinfo must be about the same person as the ID token (OIDC Core §5.3.2).
        let userinfo: UserInfoClaims = client
            .user_info(response.access_token().clone(), Some(claims.subject().clone()))
            .map_err(|e| LoginError::BadResponse { detail: format!("no userinfo endpoint in the metadata: {e}") })?
            .request_async(&self.http)
            .await
            .map_err(|err| {
                use openidconnect::UserInfoError as E;
                match err {
                    E::Request(e) => LoginError::Unreachable { detail: error_chain(&e) },
                    E::Response(status, _, msg) => {
                        LoginError::Refused { error: format!("userinfo answered {status}"), description: Some(msg) }
                    }
                    other => LoginError::BadResponse { detail: error_chain(&other) },
                }
            })?;

        Ok((signed_in(claims, &userinfo), id_token.clone()))
    }

    /// The provider's `end_session_endpoint` URL for this person, or `None` when the provider does
    /// not offer RP-initiated logout (or has never been reachable).
    pub async fn logout_url(&self, id_token: &IdToken, state: CsrfToken) -> Option<Url> {
        let discovered = self.metadata().await.ok()?;
        let endpoint = discovered.metadata.additional_metadata().end_session_endpoint.clone()?;
        Some(
            LogoutRequest::from(endpoint)
                .set_id_token_hint(id_token)
                .set_client_id(self.client_id.clone())
                .set_post_logout_redirect_uri(self.post_logout_redirect_uri.clone())
                .set_state(state)
                .http_get_url(),
        )
    }
}

fn token_error<RE: std::error::Error + 'static>(
    err: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> LoginError {
    match err {
        RequestTokenError::ServerResponse(response) => LoginError::Refused {
            error: response.error().to_string(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(e) => LoginError::Unreachable { detail: error_chain(&e) },
        other => LoginError::BadResponse { detail: error_chain(&other) },
    }
}

/// An error and its causes on one line ("request failed: error sending request: connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What the pages need from the verified ID token and userinfo. Userinfo wins where both have a
/// claim: it is the provider's current view, the ID token a snapshot from sign-in.
fn signed_in(claims: &IdTokenClaims, userinfo: &UserInfoClaims) -> SignedIn {
    let name = userinfo.name().or(claims.name()).and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
    let username = userinfo.preferred_username().or(claims.preferred_username()).map(|u| u.as_str().to_owned());
    let email = userinfo.email().or(claims.email()).map(|e| e.as_str().to_owned());
    let roles = userinfo.additional_claims().roles.clone().or_else(|| claims.additional_claims().roles.clone());
    let subject = claims.subject().as_str().to_owned();
    SignedIn {
        display_name: name.clone().or_else(|| username.clone()).unwrap_or_else(|| subject.clone()),
        subject,
        username,
        email,
        email_verified: userinfo.email_verified().or(claims.email_verified()),
        roles: roles.unwrap_or_default(),
        id_token_claims: claim_rows(claims),
    }
}

/// The verified claims as rows, timestamps with their UTC time beside them.
fn claim_rows(claims: &IdTokenClaims) -> Vec<ClaimRow> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(claims) else { return Vec::new() };
    map.into_iter()
        .map(|(name, value)| {
            let note = match (name.as_str(), &value) {
                ("exp" | "iat" | "auth_time" | "updated_at" | "nbf", serde_json::Value::Number(n)) => n
                    .as_i64()
                    .and_then(|secs| Utc.timestamp_opt(secs, 0).single())
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                _ => None,
            };
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            ClaimRow { name, value, note }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Values for unit tests that need a session without a provider.

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    pub fn signed_in(name: &str) -> SignedIn {
        SignedIn {
            subject: format!("sub-{name}"),
            display_name: name.to_owned(),
            username: Some(name.to_owned()),
            email: Some(format!("{name}@example.com")),
            email_verified: Some(true),
            roles: vec!["reader".into()],
            id_token_claims: vec![ClaimRow { name: "sub".into(), value: format!("sub-{name}"), note: None }],
        }
    }

    /// A well-formed but unsigned ID token: sessions only keep it for `id_token_hint`.
    pub fn unverified_id_token() -> IdToken {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let claims = r#"{"iss":"http://127.0.0.1:8080","sub":"s","aud":"demo-rp","exp":1900000000,"iat":1800000000}"#;
        format!("{}.{}.{}", part(r#"{"alg":"RS256"}"#), part(claims), part("sig")).parse().unwrap()
    }
}
