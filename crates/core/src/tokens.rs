//! The tokens we issue: RFC 9068 access tokens and OpenID Connect ID tokens, their lifetimes,
//! `at_hash`, and the end-user claims each scope releases (shared by ID tokens and userinfo).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::jws::{Expect, Expiring, JwsError, KeyRing};
use crate::keys::Algorithm;
use crate::model::{AccessTokenRecord, Account, AccountId, Client, SessionId, TokenFamilyId};
use crate::scope::{self, EMAIL, PROFILE, ROLES, has_scope};

/// `typ` of an RFC 9068 access token (§2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of our ID tokens. Distinct from [`ACCESS_TOKEN_TYP`], so neither can pass for the other.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Server-wide token settings; a client's own lifetimes (when set) override the lifetimes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// RFC 9700 §4.14 / the issue: short-lived access tokens; 10 minutes by default.
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    /// Access tokens are signed with this algorithm: RS256, which every resource server's JWT
    /// library supports (RFC 9068 §4 requires it of them).
    pub access_token_algorithm: Algorithm,
    /// The `aud` of access tokens when set (a resource server's identifier); else the client id.
    pub access_token_audience: Option<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_lifetime: Duration::minutes(10),
            id_token_lifetime: Duration::hours(1),
            access_token_algorithm: Algorithm::Rs256,
            access_token_audience: None,
        }
    }
}

fn client_lifetime(seconds: Option<i64>, default: Duration) -> Duration {
    seconds.filter(|s| *s > 0).map_or(default, Duration::seconds)
}

impl TokenSettings {
    pub fn access_token_lifetime_for(&self, client: &Client) -> Duration {
        client_lifetime(client.access_token_lifetime, self.access_token_lifetime)
    }

    pub fn id_token_lifetime_for(&self, client: &Client) -> Duration {
        client_lifetime(client.id_token_lifetime, self.id_token_lifetime)
    }
}

/// RFC 9068 §2.2 claims (plus `roles` for the `roles` scope and `sid` for logout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The account id, or the client id for `client_credentials` (RFC 9068 §2.2).
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl Expiring for AccessTokenClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// What an access token is issued for.
#[derive(Debug, Clone)]
pub struct AccessTokenRequest<'a> {
    pub client: &'a Client,
    /// `None` for `client_credentials`: the client acts for itself.
    pub account: Option<AccountId>,
    pub scopes: &'a [String],
    /// The account's roles, put in the token when the `roles` scope is granted.
    pub roles: &'a [String],
    pub auth_time: Option<DateTime<Utc>>,
    pub session_id: Option<SessionId>,
    /// The grant's family (authorization code / refresh token chain), so revoking it reaches this token.
    pub family_id: Option<TokenFamilyId>,
}

#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    /// Seconds, for the token response's `expires_in`.
    pub expires_in: i64,
    pub claims: AccessTokenClaims,
    /// To be stored with `GrantStore::insert_access_token` before the token is handed out.
    pub record: AccessTokenRecord,
}

/// A UUIDv7 (RFC 9562) in 32 lowercase hex digits: unique without coordination between nodes
/// (RFC 7519 §4.1.7) and ordered by issue time, also as text.
///
/// Why time-ordered: every `jti` is the primary key of a stored row, and issuing tokens is the
/// busiest write there is. A random key lands each insert on a random leaf page of the key's
/// B-tree, so every token dirtied a page of its own: one more page in SQLite's WAL per token,
/// and on PostgreSQL a full-page image in the WAL for the first touch of each page after a
/// checkpoint. Ordered keys all land on the index's last page, shared by a whole batch.
///
/// The `jti` is no secret (it is in the signed token, as are `iat` and `exp`), so the timestamp
/// tells nothing new; what makes two nodes' identifiers differ within one millisecond is the
/// crate's randomly seeded counter plus its random tail (over 70 random bits), and a duplicate
/// could not pass unnoticed anyway: it would fail the primary key.
fn new_jti() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Issues an RFC 9068 access token. The caller stores `record` (the `jti` makes revocation and
/// introspection exact) and only then hands the token out.
pub fn issue_access_token(
    ring: &KeyRing,
    settings: &TokenSettings,
    issuer: &str,
    req: AccessTokenRequest<'_>,
    now: DateTime<Utc>,
) -> Result<IssuedAccessToken, JwsError> {
    let lifetime = settings.access_token_lifetime_for(req.client);
    let expires_at = now + lifetime;
    let client_id = req.client.id.0.clone();
    let claims = AccessTokenClaims {
        iss: issuer.to_owned(),
        sub: req.account.map_or_else(|| client_id.clone(), |a| a.to_string()),
        aud: settings.access_token_audience.clone().unwrap_or_else(|| client_id.clone()),
        client_id,
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
        jti: new_jti(),
        scope: (!req.scopes.is_empty()).then(|| scope::join_scope(req.scopes)),
        auth_time: req.auth_time.map(|t| t.timestamp()),
        sid: req.session_id.map(|s| s.to_string()),
        roles: (req.account.is_some() && has_scope(req.scopes, ROLES)).then(|| req.roles.to_vec()),
    };
    let token = ring.sign(settings.access_token_algorithm, ACCESS_TOKEN_TYP, &claims)?;
    let record = AccessTokenRecord {
        jti: claims.jti.clone(),
        client_id: req.client.id.clone(),
        account_id: req.account,
        family_id: req.family_id,
        scopes: req.scopes.to_vec(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    Ok(IssuedAccessToken { token, expires_in: lifetime.num_seconds(), claims, record })
}

/// Verifies an access token we issued (signature, `typ`, `iss`, expiry). The caller must still
/// check its `jti` record: only the record knows about revocation.
pub fn verify_access_token(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessTokenClaims, JwsError> {
    let expect = Expect { issuer, typ: ACCESS_TOKEN_TYP, allow_expired: false };
    // Userinfo and introspection see the same access token many times over its minutes of life.
    ring.verify_cached::<AccessTokenClaims>(token, expect, now)
}

/// `at_hash` (OIDC Core §3.1.3.6, §3.3.2.11): base64url of the left half of the hash of the access
/// token's ASCII octets, with the hash of the ID token's `alg`: SHA-256 for RS256 and ES256.
/// EdDSA names no hash of its own; with Ed25519 the hash used is SHA-512, the one inside Ed25519
/// (RFC 8032 §5.1), which is what certified relying-party libraries expect.
pub fn at_hash(access_token: &str, alg: Algorithm) -> String {
    match alg {
        Algorithm::Rs256 | Algorithm::Es256 => {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        }
        Algorithm::EdDsa => {
            let digest = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
    }
}

/// End-user claims released per scope (OIDC Core §5.4): `profile` gives `name`,
/// `preferred_username`, `updated_at`; `email` gives `email`, `email_verified`; `roles` gives `roles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// The claims `scopes` release about `account`. Used for ID tokens and userinfo alike, so both
/// always say the same thing.
pub fn user_claims(account: &Account, roles: &[String], scopes: &[String]) -> UserClaims {
    let mut claims = UserClaims::default();
    if has_scope(scopes, PROFILE) {
        claims.name = account.display_name.clone().filter(|n| !n.is_empty());
        claims.preferred_username = Some(account.username.clone());
        claims.updated_at = Some(account.updated_at.timestamp());
    }
    if has_scope(scopes, EMAIL) {
        claims.email = Some(account.email.clone());
        claims.email_verified = Some(account.email_verified);
    }
    if has_scope(scopes, ROLES) {
        claims.roles = Some(roles.to_vec());
    }
    claims
}

/// The userinfo response (OIDC Core §5.3.2): `sub` (the same as the ID token's) and the claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(flatten)]
    pub claims: UserClaims,
}

/// OIDC Core §2 ID token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(flatten)]
    pub user: UserClaims,
}

impl Expiring for IdTokenClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// What an ID token is issued for (part of the authorization code and refresh token grants).
#[derive(Debug, Clone)]
pub struct IdTokenRequest<'a> {
    pub client: &'a Client,
    pub account: &'a Account,
    pub roles: &'a [String],
    pub scopes: &'a [String],
    pub auth_time: DateTime<Utc>,
    /// Echoed exactly as the authorization request sent it (OIDC Core §3.1.3.7 step 11).
    pub nonce: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    pub session_id: Option<SessionId>,
    /// Authentication methods (RFC 8176), e.g. `["pwd"]`.
    pub amr: &'a [String],
}

/// The algorithm a client's ID tokens are signed with: its registered
/// `id_token_signed_response_alg`, RS256 (the OIDC default) when unset or unknown.
pub fn id_token_algorithm(client: &Client) -> Algorithm {
    Algorithm::parse(&client.id_token_signed_response_alg).unwrap_or(Algorithm::Rs256)
}

/// Builds the ID token claims (without signing them).
pub fn id_token_claims(
    settings: &TokenSettings,
    issuer: &str,
    req: &IdTokenRequest<'_>,
    now: DateTime<Utc>,
) -> IdTokenClaims {
    let alg = id_token_algorithm(req.client);
    IdTokenClaims {
        iss: issuer.to_owned(),
        sub: req.account.id.to_string(),
        aud: req.client.id.0.clone(),
        azp: req.client.id.0.clone(),
        exp: (now + settings.id_token_lifetime_for(req.client)).timestamp(),
        iat: now.timestamp(),
        auth_time: req.auth_time.timestamp(),
        nonce: req.nonce.map(str::to_owned),
        at_hash: req.access_token.map(|t| at_hash(t, alg)),
        sid: req.session_id.map(|s| s.to_string()),
        amr: (!req.amr.is_empty()).then(|| req.amr.to_vec()),
        user: user_claims(req.account, req.roles, req.scopes),
    }
}

/// Issues a signed ID token with the client's algorithm.
pub fn issue_id_token(
    ring: &KeyRing,
    settings: &TokenSettings,
    issuer: &str,
    req: &IdTokenRequest<'_>,
    now: DateTime<Utc>,
) -> Result<(String, IdTokenClaims), JwsError> {
    let claims = id_token_claims(settings, issuer, req, now);
    let token = ring.sign(id_token_algorithm(req.client), ID_TOKEN_TYP, &claims)?;
    Ok((token, claims))
}

/// Verifies an ID token we issued, e.g. an `id_token_hint` (OIDC Core §3.1.2.1: it may be
/// expired; RP-Initiated Logout §2 likewise), so expiry is the caller's choice.
pub fn verify_id_token(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    allow_expired: bool,
    now: DateTime<Utc>,
) -> Result<IdTokenClaims, JwsError> {
    let expect = Expect { issuer, typ: ID_TOKEN_TYP, allow_expired };
    Ok(ring.verify::<IdTokenClaims>(token, expect, now)?.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Kek, generate_signing_key};
    use crate::model::{ClientId, GrantType, KeyState, TokenEndpointAuthMethod};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    const ISS: &str = "https://id.example.com";

    fn ring() -> KeyRing {
        let kek = Kek::generate().unwrap();
        let keys: Vec<_> = Algorithm::ALL
            .into_iter()
            .map(|alg| {
                let mut k = generate_signing_key(alg, &kek, now()).unwrap();
                k.state = KeyState::Active;
                k.activated_at = Some(now());
                k
            })
            .collect();
        KeyRing::load(&keys, &kek, now(), Duration::days(7)).unwrap()
    }

    fn client() -> Client {
        Client {
            id: ClientId("app".into()),
            secret_hash: None,
            name: "App".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
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

    fn account() -> Account {
        Account {
            id: AccountId::new(),
            username: "alice".into(),
            email: "Alice@Example.com".into(),
            email_verified: true,
            password_hash: None,
            display_name: Some("Alice Liddell".into()),
            disabled: false,
            password_change_required: false,
            created_at: now(),
            updated_at: now() - Duration::days(1),
        }
    }

    fn scopes(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn jtis_are_unique_and_sort_in_issue_order() {
        let jtis: Vec<String> = (0..10_000).map(|_| new_jti()).collect();
        assert!(
            jtis.iter().all(|j| j.len() == 32 && j.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        );
        // Strictly increasing as text: each insert lands after the last key, and none repeats.
        assert!(jtis.windows(2).all(|w| w[0] < w[1]), "jtis must sort in the order they were issued");
        let parsed = uuid::Uuid::parse_str(&jtis[0]).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
    }

    #[test]
    fn at_hash_vectors() {
        // OIDC Core §A.3-A.7 example access token; expected values computed independently
        // (Python hashlib: base64url(sha256(t)[:16]) and base64url(sha512(t)[:32])).
        let t = "jHkWEdUXMU1BwAsC4vtUsZwnPhoNzmWvU6ZqgzPZRhQ";
        assert_eq!(at_hash(t, Algorithm::Rs256), "lWb4XGq4z9x7y6LQXFO8mg");
        assert_eq!(at_hash(t, Algorithm::Es256), "lWb4XGq4z9x7y6LQXFO8mg");
        assert_eq!(at_hash(t, Algorithm::EdDsa), "8GSTI2ev9OSKY1IJyISydrYHKBArhHDMqx9M2z8fbAY");
    }

    #[test]
    fn claims_per_scope() {
        let a = account();
        let roles = vec!["admin".to_owned()];
        assert_eq!(user_claims(&a, &roles, &scopes("openid")), UserClaims::default());
        let profile = user_claims(&a, &roles, &scopes("openid profile"));
        assert_eq!(profile.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(profile.preferred_username.as_deref(), Some("alice"));
        assert_eq!(profile.updated_at, Some((now() - Duration::days(1)).timestamp()));
        assert!(profile.email.is_none() && profile.roles.is_none());
        let email = user_claims(&a, &roles, &scopes("openid email"));
        assert_eq!(email.email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(email.email_verified, Some(true));
        assert!(email.name.is_none());
        let with_roles = user_claims(&a, &roles, &scopes("openid roles"));
        assert_eq!(with_roles.roles, Some(roles.clone()));
        let none_named = Account { display_name: None, ..a.clone() };
        assert!(user_claims(&none_named, &roles, &scopes("profile")).name.is_none());
        let info = serde_json::to_value(UserInfo { sub: a.id.to_string(), claims: email }).unwrap();
        assert_eq!(info["sub"], a.id.to_string());
        assert_eq!(info["email_verified"], true);
        assert!(info.get("name").is_none(), "unreleased claims are absent, not null");
    }

    #[test]
    fn access_token_lifetimes_and_claims() {
        let ring = ring();
        let settings = TokenSettings::default();
        let c = client();
        let s = scopes("api:read roles");
        let req = AccessTokenRequest {
            client: &c,
            account: None,
            scopes: &s,
            roles: &[],
            auth_time: None,
            session_id: None,
            family_id: None,
        };
        let issued = issue_access_token(&ring, &settings, ISS, req.clone(), now()).unwrap();
        assert_eq!(issued.expires_in, 600);
        assert_eq!(issued.claims.exp, now().timestamp() + 600);
        assert_eq!(issued.record.expires_at, now() + Duration::minutes(10));
        assert_eq!(issued.claims.sub, "app", "client_credentials: sub is the client");
        assert_eq!(issued.claims.aud, "app");
        assert_eq!(issued.claims.scope.as_deref(), Some("api:read roles"));
        assert!(issued.claims.roles.is_none(), "no end-user, no roles");
        assert_eq!(issued.record.jti, issued.claims.jti);
        assert_eq!(issued.claims.jti.len(), 32);

        let verified = verify_access_token(&ring, ISS, &issued.token, now() + Duration::seconds(599)).unwrap();
        assert_eq!(verified, issued.claims);
        assert_eq!(
            verify_access_token(&ring, ISS, &issued.token, now() + Duration::seconds(600)),
            Err(JwsError::Expired)
        );

        let c = Client { access_token_lifetime: Some(60), ..c.clone() };
        let short = issue_access_token(&ring, &settings, ISS, short_req(&c, &s), now()).unwrap();
        assert_eq!(short.expires_in, 60);
        let again = issue_access_token(&ring, &settings, ISS, short_req(&c, &s), now()).unwrap();
        assert_ne!(again.claims.jti, short.claims.jti, "jti is fresh every time");

        let aud = TokenSettings { access_token_audience: Some("https://api.example".into()), ..settings };
        let with_aud = issue_access_token(&ring, &aud, ISS, short_req(&c, &s), now()).unwrap();
        assert_eq!(with_aud.claims.aud, "https://api.example");
    }

    fn short_req<'a>(c: &'a Client, s: &'a [String]) -> AccessTokenRequest<'a> {
        AccessTokenRequest {
            client: c,
            account: None,
            scopes: s,
            roles: &[],
            auth_time: None,
            session_id: None,
            family_id: None,
        }
    }

    #[test]
    fn user_access_token_carries_roles_only_with_the_roles_scope() {
        let ring = ring();
        let c = client();
        let a = account();
        let roles = vec!["admin".to_owned()];
        let s = scopes("openid roles");
        let req = AccessTokenRequest {
            client: &c,
            account: Some(a.id),
            scopes: &s,
            roles: &roles,
            auth_time: Some(now()),
            session_id: None,
            family_id: None,
        };
        let t = issue_access_token(&ring, &TokenSettings::default(), ISS, req.clone(), now()).unwrap();
        assert_eq!(t.claims.sub, a.id.to_string());
        assert_eq!(t.claims.roles, Some(roles.clone()));
        assert_eq!(t.claims.auth_time, Some(now().timestamp()));
        let s2 = scopes("openid");
        let t2 =
            issue_access_token(&ring, &TokenSettings::default(), ISS, AccessTokenRequest { scopes: &s2, ..req }, now())
                .unwrap();
        assert!(t2.claims.roles.is_none());
    }

    #[test]
    fn id_token_claims_and_algorithms() {
        let ring = ring();
        let a = account();
        let amr = vec!["pwd".to_owned()];
        let s = scopes("openid email");
        for alg in Algorithm::ALL {
            let c =
                Client { id_token_signed_response_alg: alg.as_str().into(), id_token_lifetime: Some(300), ..client() };
            let req = IdTokenRequest {
                client: &c,
                account: &a,
                roles: &[],
                scopes: &s,
                auth_time: now() - Duration::minutes(5),
                nonce: Some("n-0S6_WzA2Mj"),
                access_token: Some("jHkWEdUXMU1BwAsC4vtUsZwnPhoNzmWvU6ZqgzPZRhQ"),
                session_id: Some(SessionId::new()),
                amr: &amr,
            };
            let (token, claims) = issue_id_token(&ring, &TokenSettings::default(), ISS, &req, now()).unwrap();
            assert_eq!(claims.exp, now().timestamp() + 300);
            assert_eq!(claims.aud, "app");
            assert_eq!(claims.azp, "app");
            assert_eq!(claims.auth_time, (now() - Duration::minutes(5)).timestamp());
            assert_eq!(claims.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
            assert_eq!(claims.at_hash, Some(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnPhoNzmWvU6ZqgzPZRhQ", alg)));
            assert_eq!(claims.user.email.as_deref(), Some("Alice@Example.com"));
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, crate::jws::jwt_algorithm(alg));
            assert_eq!(verify_id_token(&ring, ISS, &token, false, now()).unwrap(), claims);
            // An ID token is not an access token, and the other way round.
            assert_eq!(verify_access_token(&ring, ISS, &token, now()), Err(JwsError::WrongType));
            let late = now() + Duration::hours(2);
            assert_eq!(verify_id_token(&ring, ISS, &token, false, late), Err(JwsError::Expired));
            assert!(verify_id_token(&ring, ISS, &token, true, late).is_ok(), "a hint may be expired");
        }
    }
}
