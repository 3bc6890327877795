//! The records the rules work on. The store returns these, never its database entities.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::TokenHash;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7), so inserts stay local in b-tree indexes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// An account's stable, opaque identifier; also the OpenID Connect `sub`. Never reassigned.
    AccountId
);
uuid_id!(
    /// A server-side session's row id (the cookie carries a separate random secret, stored hashed).
    SessionId
);
uuid_id!(
    /// Groups a refresh token with every token rotated from it, so reuse can revoke them all.
    TokenFamilyId
);
uuid_id!(RoleId);

/// An OAuth client identifier, as registered (case-sensitive, compared exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub String);

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// Normalised (NFKC, lowercase); see [`crate::account::normalize_username`].
    pub username: String,
    /// As the person typed it; uniqueness is checked on its lowercase form.
    pub email: String,
    pub email_verified: bool,
    /// PHC string (Argon2id); `None` for an account that cannot sign in with a password yet.
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub disabled: bool,
    /// Set when an administrator requires a new password at next sign-in.
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is needed to create an account; the store assigns nothing but timestamps.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub description: Option<String>,
    /// Built-in roles (`admin`) cannot be deleted.
    pub builtin: bool,
}

/// The grant types a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None].into_iter().find(|m| m.as_str() == s)
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    /// `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    pub name: String,
    /// Compared by exact string match (RFC 9700 §2.1); never normalised.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub public: bool,
    /// First-party clients skip the consent screen.
    pub first_party: bool,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Per-client lifetimes in seconds; `None` uses the server default.
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub id_token_lifetime: Option<i64>,
    /// `RS256` unless the client registered another (`ES256`, `EdDSA`).
    pub id_token_signed_response_alg: String,
    /// Set when the client comes from `[[clients]]` in the configuration.
    pub from_config: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A server-side sign-in session. The browser holds a random secret; only its hash is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub secret_hash: TokenHash,
    pub account_id: AccountId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the person last proved who they are (OIDC `auth_time`).
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub remember_me: bool,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}

/// An issued authorization code (RFC 6749 §4.1.2), stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: TokenHash,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub session_id: Option<SessionId>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// The token family every token issued from this code joins, so a replayed code can revoke them (RFC 6749 §4.1.2).
    pub family_id: TokenFamilyId,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
}

/// A refresh token, stored by hash, in a rotation family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: TokenHash,
    pub family_id: TokenFamilyId,
    /// The hash of the token this one was rotated from.
    pub parent_hash: Option<TokenHash>,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub session_id: Option<SessionId>,
    pub scopes: Vec<String>,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the whole family must end, whatever rotation happens.
    pub family_expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A record of an issued access token (a JWT), so revocation and introspection are exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub client_id: ClientId,
    /// `None` for `client_credentials` tokens.
    pub account_id: Option<AccountId>,
    /// The refresh-token family (or the authorization code) it came from, so both can be revoked together.
    pub family_id: Option<TokenFamilyId>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A remembered consent: this account allowed this client these scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// Lifecycle of a signing key: published before it signs, kept published after it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Next, Self::Active, Self::Retired].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    /// JOSE algorithm name: `RS256`, `ES256`, `EdDSA`.
    pub algorithm: String,
    /// The private key, encrypted under the key-encryption key (AEAD ciphertext with its nonce).
    pub encrypted_private_key: Vec<u8>,
    /// The public JWK as JSON.
    pub public_jwk: serde_json::Value,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One line of the audit log. `detail` is server-side only (reasons, changed fields).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Dotted event type: `account.signup`, `login.success`, `login.failure`, `session.expired`, ...
    pub event_type: String,
    pub account_id: Option<AccountId>,
    /// Who acted, when not the account itself (an administrator).
    pub actor_id: Option<AccountId>,
    pub client_id: Option<ClientId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub detail: serde_json::Value,
}

/// Search and paging for account lists.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Matched case-insensitively as a substring of username, email or display name.
    pub search: Option<String>,
    pub limit: u64,
    pub offset: u64,
}

/// Filter for reading the audit log; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub account_id: Option<AccountId>,
    pub client_id: Option<ClientId>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u64,
    pub offset: u64,
}

/// A failed-login counter for one key (`login:<normalised name>`, `device:<nonce>` or `ip:<addr>`; see
/// docs/security.md), shared by every node through the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    pub key: String,
    pub failures: i32,
    pub last_failure_at: DateTime<Utc>,
    /// No attempt is allowed before this time.
    pub locked_until: Option<DateTime<Utc>>,
}
