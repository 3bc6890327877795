//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1), validated in the
//! order the specifications give, before anything is shown to the person.
//!
//! Two kinds of failure, and the difference is a security boundary: until the client and its
//! redirect URI are verified, an error is shown as a page and never redirected (RFC 6749
//! §4.1.2.1: redirecting to an unverified URI makes us an open redirector). Once both are
//! verified, errors go back to the client with `error`, `state` and `iss`.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::model::{Client, GrantType};

/// The parameters as received (query string or form body), each at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawAuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub id_token_hint: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub registration: Option<String>,
}

impl RawAuthorizeRequest {
    /// Builds the request from decoded pairs. A parameter sent twice is an error (RFC 6749 §3.1:
    /// "Request and response parameters MUST NOT be included more than once"); unknown ones
    /// (`ui_locales`, `claims_locales`, ...) are ignored. Empty values count as absent (§3.1).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, DuplicateParameter> {
        let mut req = Self::default();
        for (name, value) in pairs {
            let slot = match name {
                "response_type" => &mut req.response_type,
                "client_id" => &mut req.client_id,
                "redirect_uri" => &mut req.redirect_uri,
                "scope" => &mut req.scope,
                "state" => &mut req.state,
                "nonce" => &mut req.nonce,
                "code_challenge" => &mut req.code_challenge,
                "code_challenge_method" => &mut req.code_challenge_method,
                "prompt" => &mut req.prompt,
                "max_age" => &mut req.max_age,
                "id_token_hint" => &mut req.id_token_hint,
                "login_hint" => &mut req.login_hint,
                "response_mode" => &mut req.response_mode,
                "request" => &mut req.request,
                "request_uri" => &mut req.request_uri,
                "registration" => &mut req.registration,
                _ => continue,
            };
            if slot.is_some() {
                return Err(DuplicateParameter(name.to_owned()));
            }
            if !value.is_empty() {
                *slot = Some(value.to_owned());
            }
        }
        Ok(req)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateParameter(pub String);

/// Why a request cannot be redirected back: shown to the person as a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnverifiedError {
    #[error("The request does not name an application (client_id is missing).")]
    MissingClientId,
    #[error("The application that sent you here is not registered with this server.")]
    UnknownClient,
    #[error("The application did not say where to send you back (redirect_uri is missing).")]
    MissingRedirectUri,
    #[error("The return address the application gave is not registered for it, so you were not sent back.")]
    UnregisteredRedirectUri,
    #[error("The request repeats the parameter {0:?}.")]
    Duplicate(String),
}

/// An error returned to the verified client by redirect (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub error: &'static str,
    pub description: String,
}

impl RedirectError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, description: description.into() }
    }
}

/// Values of `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Server policy for authorization requests.
#[derive(Debug, Clone)]
pub struct AuthorizePolicy {
    /// Require PKCE from confidential clients too (RFC 9700 §2.1.1 recommends it; public clients always need it).
    pub require_pkce: bool,
    /// Scopes this server knows; others are dropped (RFC 6749 §3.3 lets the server ignore them).
    pub supported_scopes: Vec<String>,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAuthorize {
    pub client: Client,
    /// Exactly as registered (and as sent, when sent).
    pub redirect_uri: String,
    /// Whether the client sent `redirect_uri` (then the token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// Granted-able scopes: requested ∩ supported ∩ allowed for the client, in request order.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<Duration>,
    pub id_token_hint: Option<String>,
    pub login_hint: Option<String>,
}

impl ValidatedAuthorize {
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

/// Longest `state`, `nonce` or hint we carry around; real values are far shorter.
pub const MAX_OPAQUE_LEN: usize = 2048;

/// Step 1: the client and the redirect URI. Matching is exact string comparison (RFC 9700 §2.1);
/// when the client registered exactly one URI it may be omitted (RFC 6749 §3.1.2.3).
pub fn verify_client_and_redirect(
    raw: &RawAuthorizeRequest,
    client: Option<Client>,
) -> Result<(Client, String, bool), UnverifiedError> {
    if raw.client_id.is_none() {
        return Err(UnverifiedError::MissingClientId);
    }
    let client = client.ok_or(UnverifiedError::UnknownClient)?;
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        // A client that may not use the code flow has no redirect URI we can trust for it.
        return Err(UnverifiedError::UnknownClient);
    }
    match &raw.redirect_uri {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => {
            let uri = uri.clone();
            Ok((client, uri, true))
        }
        Some(_) => Err(UnverifiedError::UnregisteredRedirectUri),
        None if client.redirect_uris.len() == 1 => {
            let uri = client.redirect_uris[0].clone();
            Ok((client, uri, false))
        }
        None => Err(UnverifiedError::MissingRedirectUri),
    }
}

/// Step 2: everything else, once errors may be redirected to the client.
pub fn validate_request(
    raw: &RawAuthorizeRequest,
    client: Client,
    redirect_uri: String,
    redirect_uri_sent: bool,
    policy: &AuthorizePolicy,
) -> Result<ValidatedAuthorize, RedirectError> {
    // OIDC Core §6: request objects are optional; say so with the dedicated codes.
    if raw.request.is_some() {
        return Err(RedirectError::new("request_not_supported", "Request objects are not supported."));
    }
    if raw.request_uri.is_some() {
        return Err(RedirectError::new("request_uri_not_supported", "request_uri is not supported."));
    }
    if raw.registration.is_some() {
        return Err(RedirectError::new("registration_not_supported", "The registration parameter is not supported."));
    }
    match raw.response_type.as_deref() {
        None => return Err(RedirectError::new("invalid_request", "response_type is required.")),
        Some("code") => {}
        Some(_) => {
            return Err(RedirectError::new("unsupported_response_type", "Only response_type=code is supported."));
        }
    }
    if let Some(mode) = raw.response_mode.as_deref()
        && mode != "query"
    {
        return Err(RedirectError::new("invalid_request", "Only response_mode=query is supported."));
    }
    for (name, value) in [("state", &raw.state), ("nonce", &raw.nonce), ("login_hint", &raw.login_hint)] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_OPAQUE_LEN) {
            return Err(RedirectError::new("invalid_request", format!("{name} is too long.")));
        }
    }

    let requested: Vec<&str> = raw.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    let mut seen = BTreeSet::new();
    let scopes: Vec<String> = requested
        .into_iter()
        .filter(|s| seen.insert(*s))
        .filter(|s| policy.supported_scopes.iter().any(|x| x == s) && client.scopes.iter().any(|x| x == s))
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(RedirectError::new("invalid_scope", "None of the requested scopes is available to this client."));
    }

    // RFC 7636 §4.3: without a method the challenge is `plain`, which we refuse (RFC 9700 §2.1.1).
    let code_challenge = match (&raw.code_challenge, raw.code_challenge_method.as_deref()) {
        (None, None) if client.public || policy.require_pkce => {
            return Err(RedirectError::new(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256.",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(RedirectError::new("invalid_request", "code_challenge_method without code_challenge."));
        }
        (Some(_), None | Some("plain")) => {
            return Err(RedirectError::new("invalid_request", "Only code_challenge_method=S256 is supported."));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(RedirectError::new("invalid_request", "Only code_challenge_method=S256 is supported."));
        }
        (Some(challenge), Some(_)) => {
            // BASE64URL(SHA-256(verifier)) is always 43 characters (RFC 7636 §4.2).
            if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
                return Err(RedirectError::new("invalid_request", "code_challenge is not a valid S256 challenge."));
            }
            Some(challenge.clone())
        }
    };

    let mut prompt = Prompt::default();
    for value in raw.prompt.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // select_account: there is one account per browser session here; nothing to select.
            "select_account" => {}
            _ => return Err(RedirectError::new("invalid_request", format!("Unknown prompt value {value:?}."))),
        }
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(RedirectError::new("invalid_request", "prompt=none cannot be combined with other values."));
    }

    let max_age = match raw.max_age.as_deref() {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(secs) => Some(Duration::seconds(i64::from(secs))),
            Err(_) => return Err(RedirectError::new("invalid_request", "max_age must be a non-negative integer.")),
        },
    };

    Ok(ValidatedAuthorize {
        client,
        redirect_uri,
        redirect_uri_sent,
        scopes,
        state: raw.state.clone(),
        nonce: raw.nonce.clone(),
        code_challenge,
        prompt,
        max_age,
        id_token_hint: raw.id_token_hint.clone(),
        login_hint: raw.login_hint.clone(),
    })
}

/// What the authorization endpoint must do about authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// The current session is good enough.
    Proceed,
    /// Send the person to the login page (and back).
    Login,
    /// `prompt=none` forbids the login the request would need: answer `login_required`.
    LoginRequired,
}

/// Decides whether the person must (re-)authenticate (OIDC Core §3.1.2.3): no session; `prompt=login`
/// unless they authenticated after this request started (`fresh`); `max_age` exceeded.
pub fn authentication_decision(
    req: &ValidatedAuthorize,
    auth_time: Option<DateTime<Utc>>,
    fresh: bool,
    now: DateTime<Utc>,
) -> AuthDecision {
    let needs_login = match auth_time {
        None => true,
        Some(at) => (req.prompt.login && !fresh) || req.max_age.is_some_and(|max| now - at > max),
    };
    match (needs_login, req.prompt.none) {
        (false, _) => AuthDecision::Proceed,
        (true, true) => AuthDecision::LoginRequired,
        (true, false) => AuthDecision::Login,
    }
}

/// Must the person be asked for consent? First-party clients never ask; otherwise when
/// `prompt=consent`, or when a requested scope is not covered by the remembered consent.
pub fn consent_needed(client: &Client, remembered: Option<&[String]>, scopes: &[String], prompt: Prompt) -> bool {
    if client.first_party {
        return false;
    }
    if prompt.consent {
        return true;
    }
    match remembered {
        None => true,
        Some(granted) => scopes.iter().any(|s| !granted.contains(s)),
    }
}

/// The redirect back to the client: the registered URI with our parameters appended to its
/// query (RFC 6749 §3.1.2: keep its own query), always with `iss` (RFC 9207) and `state` when sent.
pub fn redirect_url(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>, issuer: &str) -> Option<Url> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    Some(url)
}

/// RFC 7636 §4.6: BASE64URL(SHA-256(ASCII(verifier))) == challenge, after checking the verifier's
/// form (§4.1: 43 to 128 unreserved characters). Compared in constant time.
pub fn verify_pkce(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, TokenEndpointAuthMethod};

    fn client(public: bool, first_party: bool, uris: &[&str]) -> Client {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Client {
            id: ClientId("app".into()),
            secret_hash: None,
            name: "App".into(),
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
            public,
            first_party,
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

    fn policy() -> AuthorizePolicy {
        AuthorizePolicy {
            require_pkce: true,
            supported_scopes: ["openid", "profile", "email", "offline_access", "roles"].map(String::from).to_vec(),
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636 Appendix B
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn raw(pairs: &[(&str, &str)]) -> RawAuthorizeRequest {
        let mut base = vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid profile"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in pairs {
            base.retain(|(bk, _)| bk != k);
            base.push((k, v));
        }
        RawAuthorizeRequest::from_pairs(base).unwrap()
    }

    fn validate(r: &RawAuthorizeRequest, c: Client) -> Result<ValidatedAuthorize, RedirectError> {
        let (c, uri, sent) = verify_client_and_redirect(r, Some(c)).unwrap();
        validate_request(r, c, uri, sent, &policy())
    }

    #[test]
    fn duplicate_parameters_are_refused_and_unknown_ignored() {
        let dup = RawAuthorizeRequest::from_pairs([("scope", "openid"), ("scope", "email")]);
        assert_eq!(dup, Err(DuplicateParameter("scope".into())));
        let ok = RawAuthorizeRequest::from_pairs([("ui_locales", "de"), ("ui_locales", "fr"), ("state", "")]).unwrap();
        assert_eq!(ok.state, None, "empty values count as absent");
    }

    #[test]
    fn redirect_uri_matching_is_exact() {
        let c = client(false, false, &["https://app.example/cb", "https://app.example/cb2"]);
        let ok = |uri: &str| verify_client_and_redirect(&raw(&[("redirect_uri", uri)]), Some(c.clone()));
        assert!(ok("https://app.example/cb").is_ok());
        for bad in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/c",
            "https://app.example:443/cb",
            "https://app.example/cb#",
            "https://app.example/%63b",
        ] {
            assert_eq!(ok(bad).err(), Some(UnverifiedError::UnregisteredRedirectUri), "{bad}");
        }
        // Omitted: fine with exactly one registered URI, an error with two.
        let mut r = raw(&[]);
        r.redirect_uri = None;
        assert_eq!(verify_client_and_redirect(&r, Some(c)).err(), Some(UnverifiedError::MissingRedirectUri));
        let single = client(false, false, &["https://app.example/cb"]);
        let (_, uri, sent) = verify_client_and_redirect(&r, Some(single)).unwrap();
        assert_eq!((uri.as_str(), sent), ("https://app.example/cb", false));
        assert_eq!(verify_client_and_redirect(&r, None).err(), Some(UnverifiedError::UnknownClient));
        r.client_id = None;
        assert_eq!(verify_client_and_redirect(&r, None).err(), Some(UnverifiedError::MissingClientId));
    }

    #[test]
    fn request_rules_in_order() {
        let c = || client(false, false, &["https://app.example/cb"]);
        let err = |pairs: &[(&str, &str)]| validate(&raw(pairs), c()).err().map(|e| e.error);
        assert_eq!(err(&[]), None);
        assert_eq!(err(&[("response_type", "token")]), Some("unsupported_response_type"));
        assert_eq!(err(&[("response_type", "code id_token")]), Some("unsupported_response_type"));
        assert_eq!(err(&[("request", "eyJ...")]), Some("request_not_supported"));
        assert_eq!(err(&[("request_uri", "https://x")]), Some("request_uri_not_supported"));
        assert_eq!(err(&[("response_mode", "fragment")]), Some("invalid_request"));
        assert_eq!(err(&[("scope", "unknown other")]), Some("invalid_scope"));
        assert_eq!(err(&[("code_challenge_method", "plain")]), Some("invalid_request"));
        assert_eq!(err(&[("code_challenge", "short")]), Some("invalid_request"));
        assert_eq!(err(&[("prompt", "none login")]), Some("invalid_request"));
        assert_eq!(err(&[("prompt", "bogus")]), Some("invalid_request"));
        assert_eq!(err(&[("max_age", "-1")]), Some("invalid_request"));
        assert_eq!(err(&[("max_age", "abc")]), Some("invalid_request"));
        assert_eq!(err(&[("state", &"s".repeat(MAX_OPAQUE_LEN + 1))]), Some("invalid_request"));
    }

    #[test]
    fn pkce_is_required_and_s256_only() {
        let mut r = raw(&[]);
        r.code_challenge = None;
        r.code_challenge_method = None;
        let e = validate(&r, client(true, false, &["https://app.example/cb"])).unwrap_err();
        assert_eq!(e.error, "invalid_request");
        // A confidential client too, by default.
        assert!(validate(&r, client(false, false, &["https://app.example/cb"])).is_err());
        // Unless the policy allows it for confidential clients.
        let c = client(false, false, &["https://app.example/cb"]);
        let (c, uri, sent) = verify_client_and_redirect(&r, Some(c)).unwrap();
        let lax = AuthorizePolicy { require_pkce: false, ..policy() };
        assert!(validate_request(&r, c, uri, sent, &lax).is_ok());
        // Challenge without a method defaults to plain: refused.
        let mut r = raw(&[]);
        r.code_challenge_method = None;
        assert!(validate(&r, client(true, false, &["https://app.example/cb"])).is_err());
    }

    #[test]
    fn scopes_are_filtered_to_supported_and_allowed() {
        let v = validate(
            &raw(&[("scope", "openid roles email bogus openid")]),
            client(false, false, &["https://app.example/cb"]),
        )
        .unwrap();
        // roles is supported but not allowed for this client; bogus unknown; duplicates removed.
        assert_eq!(v.scopes, ["openid", "email"]);
        assert!(v.is_openid());
    }

    #[test]
    fn pkce_verification_matches_rfc7636_appendix_b() {
        assert!(verify_pkce(VERIFIER, CHALLENGE));
        assert!(!verify_pkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", CHALLENGE));
        assert!(!verify_pkce("short", CHALLENGE));
        assert!(!verify_pkce(&format!("{VERIFIER}!"), CHALLENGE));
        assert!(!verify_pkce(&"a".repeat(129), CHALLENGE));
    }

    #[test]
    fn authentication_decisions() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = client(false, false, &["https://app.example/cb"]);
        let v = |pairs: &[(&str, &str)]| validate(&raw(pairs), c.clone()).unwrap();
        let recent = Some(now - Duration::seconds(30));
        assert_eq!(authentication_decision(&v(&[]), None, false, now), AuthDecision::Login);
        assert_eq!(authentication_decision(&v(&[]), recent, false, now), AuthDecision::Proceed);
        assert_eq!(authentication_decision(&v(&[("prompt", "none")]), None, false, now), AuthDecision::LoginRequired);
        assert_eq!(authentication_decision(&v(&[("prompt", "login")]), recent, false, now), AuthDecision::Login);
        assert_eq!(authentication_decision(&v(&[("prompt", "login")]), recent, true, now), AuthDecision::Proceed);
        assert_eq!(authentication_decision(&v(&[("max_age", "60")]), recent, false, now), AuthDecision::Proceed);
        assert_eq!(authentication_decision(&v(&[("max_age", "10")]), recent, false, now), AuthDecision::Login);
        // The boundary: exactly max_age ago is still fine; max_age=0 wants a login a second later.
        assert_eq!(authentication_decision(&v(&[("max_age", "30")]), recent, false, now), AuthDecision::Proceed);
        assert_eq!(authentication_decision(&v(&[("max_age", "29")]), recent, false, now), AuthDecision::Login);
        let just = Some(now - Duration::seconds(1));
        assert_eq!(authentication_decision(&v(&[("max_age", "0")]), just, false, now), AuthDecision::Login);
        assert_eq!(
            authentication_decision(&v(&[("max_age", "10"), ("prompt", "none")]), recent, false, now),
            AuthDecision::LoginRequired
        );
    }

    #[test]
    fn consent_decisions() {
        let scopes = ["openid".to_owned(), "email".to_owned()];
        let third = client(false, false, &["https://app.example/cb"]);
        let first = client(false, true, &["https://app.example/cb"]);
        let p = Prompt::default();
        assert!(!consent_needed(&first, None, &scopes, Prompt { consent: true, ..p }));
        assert!(consent_needed(&third, None, &scopes, p));
        assert!(!consent_needed(&third, Some(&scopes), &scopes, p));
        assert!(consent_needed(&third, Some(&scopes[..1]), &scopes, p), "a new scope asks again");
        assert!(consent_needed(&third, Some(&scopes), &scopes, Prompt { consent: true, ..p }));
    }

    #[test]
    fn redirects_keep_the_registered_query_and_carry_state_and_iss() {
        let url =
            redirect_url("https://app.example/cb?tenant=a", &[("code", "c&d")], Some("s t"), "https://id.example")
                .unwrap();
        assert_eq!(url.as_str(), "https://app.example/cb?tenant=a&code=c%26d&state=s+t&iss=https%3A%2F%2Fid.example");
        let url =
            redirect_url("https://app.example/cb", &[("error", "access_denied")], None, "https://id.example").unwrap();
        assert_eq!(url.query(), Some("error=access_denied&iss=https%3A%2F%2Fid.example"));
    }

    /// Hostile values (fuzz/fuzz_targets/authorize_request.rs explores the rest): each is answered,
    /// and an error for a verified client always builds its redirect back.
    #[test]
    fn hostile_values_are_answered_and_errors_always_redirect() {
        let too_long = "x".repeat(MAX_OPAQUE_LEN + 1);
        let too_big = u64::MAX.to_string();
        // 43 bytes but not 43 characters: the length check must not slice inside a character.
        let multibyte_challenge = format!("{}x", "\u{e9}".repeat(21));
        let cases: Vec<(&str, &str, Option<&str>)> = vec![
            ("max_age", "4294967295", None),
            ("max_age", &too_big, Some("invalid_request")),
            ("max_age", "-1", Some("invalid_request")),
            ("max_age", "1e3", Some("invalid_request")),
            ("state", &too_long, Some("invalid_request")),
            ("nonce", &too_long, Some("invalid_request")),
            ("state", "a&b=c#d\u{0}\u{1f511}", None),
            ("scope", "\u{0}openid", Some("invalid_scope")),
            ("scope", "    ", Some("invalid_scope")),
            ("scope", "openid\topenid", Some("invalid_scope")),
            ("prompt", "none login", Some("invalid_request")),
            ("prompt", "   ", None),
            ("prompt", "\u{1f511}", Some("invalid_request")),
            ("code_challenge", &multibyte_challenge, Some("invalid_request")),
            ("code_challenge_method", "s256", Some("invalid_request")),
            ("response_mode", "fragment", Some("invalid_request")),
            ("response_type", "code id_token", Some("unsupported_response_type")),
            ("request_uri", "urn:x", Some("request_uri_not_supported")),
        ];
        for (name, value, expected) in cases {
            let r = raw(&[(name, value)]);
            let what = format!("{name}={:.40}", value);
            match (validate(&r, client(false, false, &["https://app.example/cb"])), expected) {
                (Ok(v), None) => {
                    let url = redirect_url(&v.redirect_uri, &[("code", "c")], v.state.as_deref(), "https://id.example");
                    let url = url.unwrap_or_else(|| panic!("{what}: no redirect"));
                    let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, s)| s.into_owned());
                    assert_eq!(state, v.state, "{what}: state goes back exactly as sent");
                }
                (Err(e), Some(code)) => {
                    assert_eq!(e.error, code, "{what}");
                    let params = [("error", e.error), ("error_description", e.description.as_str())];
                    assert!(redirect_url("https://app.example/cb", &params, r.state.as_deref(), "https://i").is_some());
                }
                (got, _) => panic!("{what}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
