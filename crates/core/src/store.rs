//! The small storage traits the rules need. `latchkey-store` implements them on sea-orm
//! (SQLite and PostgreSQL); tests may implement them in memory.
//!
//! Conventions: `find_*` returns `Ok(None)` when nothing matches; `insert_*` fails with
//! [`StoreError::Conflict`] naming the unique field that is taken; `consume_*` is atomic across
//! every process sharing the database (exactly one caller wins); secrets arrive already hashed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::model::*;
use crate::secret::TokenHash;

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn insert_account(&self, account: NewAccount, now: DateTime<Utc>) -> StoreResult<Account> {
        self.insert_account_with_roles(account, &[], false, now).await
    }
    /// Creates the account, grants it `roles` and sets the password-change flag in one transaction:
    /// a failure (a role deleted meanwhile, say) leaves no account behind.
    async fn insert_account_with_roles(
        &self,
        account: NewAccount,
        roles: &[RoleId],
        password_change_required: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Account>;
    async fn find_account(&self, id: AccountId) -> StoreResult<Option<Account>>;
    /// `username` must already be normalised.
    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>>;
    /// Case-insensitive.
    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<Account>>;
    /// Ordered by username.
    async fn list_accounts(&self, query: &AccountQuery) -> StoreResult<Vec<Account>>;
    async fn count_accounts(&self, search: Option<&str>) -> StoreResult<u64>;
    async fn update_password_hash(&self, id: AccountId, hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn update_profile(
        &self,
        id: AccountId,
        email: &str,
        email_verified: bool,
        display_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn set_account_disabled(&self, id: AccountId, disabled: bool, now: DateTime<Utc>) -> StoreResult<()>;
    async fn set_password_change_required(&self, id: AccountId, required: bool, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes the account with its roles, sessions, consents, codes and tokens.
    async fn delete_account(&self, id: AccountId) -> StoreResult<bool>;
}

#[async_trait]
pub trait RoleStore: Send + Sync {
    async fn insert_role(&self, name: &str, description: Option<&str>) -> StoreResult<Role>;
    async fn find_role_by_name(&self, name: &str) -> StoreResult<Option<Role>>;
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    async fn delete_role(&self, id: RoleId) -> StoreResult<bool>;
    /// Idempotent: granting a role the account has is not an error.
    async fn grant_role(&self, account: AccountId, role: RoleId) -> StoreResult<()>;
    /// Returns whether the account had the role.
    async fn revoke_role(&self, account: AccountId, role: RoleId) -> StoreResult<bool>;
    /// Role names, sorted.
    async fn roles_of(&self, account: AccountId) -> StoreResult<Vec<String>>;
    /// The role names (sorted) of each of `accounts` that has any, for a page of a list. This
    /// default asks one account at a time; a store should answer in a constant number of queries.
    async fn roles_of_accounts(
        &self,
        accounts: &[AccountId],
    ) -> StoreResult<std::collections::HashMap<AccountId, Vec<String>>> {
        let mut out = std::collections::HashMap::new();
        for id in accounts {
            let roles = self.roles_of(*id).await?;
            if !roles.is_empty() {
                out.insert(*id, roles);
            }
        }
        Ok(out)
    }
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: Client) -> StoreResult<Client>;
    /// Inserts or replaces everything but `created_at` (declarative registrations from the configuration).
    async fn upsert_client(&self, client: Client) -> StoreResult<Client>;
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    /// Ordered by client id.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    async fn update_client(&self, client: Client) -> StoreResult<Client>;
    async fn update_client_secret(&self, id: &ClientId, secret_hash: TokenHash, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes the client with its codes, tokens and consents.
    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: Session) -> StoreResult<()>;
    async fn find_session_by_secret(&self, secret_hash: &TokenHash) -> StoreResult<Option<Session>>;
    async fn find_session(&self, id: SessionId) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, id: SessionId, last_seen_at: DateTime<Utc>) -> StoreResult<()>;
    async fn delete_session(&self, id: SessionId) -> StoreResult<bool>;
    /// Newest first.
    async fn list_sessions_of(&self, account: AccountId) -> StoreResult<Vec<Session>>;
    /// Ends every session of the account except `keep`; returns how many ended.
    async fn delete_sessions_of(&self, account: AccountId, keep: Option<SessionId>) -> StoreResult<u64>;
    /// Deletes sessions past their absolute expiry, or idle since before the cutoff for their kind.
    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
        remember_me_idle_cutoff: DateTime<Utc>,
    ) -> StoreResult<u64>;
    async fn count_active_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// What became of an attempt to consume a single-use row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed<T> {
    /// This caller consumed it; nobody else ever will.
    Now(T),
    /// It had been consumed before (a replay): the row, with the first consumption's time.
    Already(T),
    /// No such row.
    Missing,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, code: AuthorizationCode) -> StoreResult<()>;
    /// Atomically marks the code consumed (only if it was not), then returns it.
    async fn consume_code(&self, code_hash: &TokenHash, now: DateTime<Utc>)
    -> StoreResult<Consumed<AuthorizationCode>>;

    async fn insert_refresh_token(&self, token: RefreshToken) -> StoreResult<()>;
    async fn find_refresh_token(&self, token_hash: &TokenHash) -> StoreResult<Option<RefreshToken>>;
    /// Atomically marks the token used (only if it was not), then returns it.
    async fn consume_refresh_token(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Consumed<RefreshToken>>;

    async fn insert_access_token(&self, record: AccessTokenRecord) -> StoreResult<()>;
    async fn find_access_token(&self, jti: &str) -> StoreResult<Option<AccessTokenRecord>>;
    async fn revoke_access_token(&self, jti: &str, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Revokes every refresh and access token of the family; returns how many token rows changed.
    /// It first records the family as revoked (committed before any token row is updated), so a
    /// grant still inserting the family's next tokens finds the record afterwards
    /// ([`GrantStore::find_family_revocation`]).
    async fn revoke_token_family(&self, family: TokenFamilyId, now: DateTime<Utc>) -> StoreResult<u64>;
    /// When the family was first revoked, if it was (kept at least a day, see `purge_expired_grants`).
    async fn find_family_revocation(&self, family: TokenFamilyId) -> StoreResult<Option<DateTime<Utc>>>;
    /// Revokes every refresh and access token of the account (for one client, or all).
    async fn revoke_tokens_of(
        &self,
        account: AccountId,
        client: Option<&ClientId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    async fn find_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<Option<Consent>>;
    async fn upsert_consent(&self, consent: Consent) -> StoreResult<()>;
    async fn delete_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<bool>;
    async fn list_consents_of(&self, account: AccountId) -> StoreResult<Vec<Consent>>;

    /// Deletes codes, refresh tokens and access-token records that expired before `before`, and
    /// family revocation records written before it (not counted: they are bookkeeping, not grants).
    async fn purge_expired_grants(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// An access-token record read together with the account it was issued to
/// ([`BearerStore::find_access_token_with_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenWithAccount {
    pub record: AccessTokenRecord,
    /// `None` when the token has no account (`client_credentials`) or its account is gone.
    pub account: Option<Account>,
    /// The account's role names, sorted; empty unless asked for (or the account has none).
    pub roles: Vec<String>,
}

/// What the endpoints that accept an access token (userinfo, introspection) read on every request.
#[async_trait]
pub trait BearerStore: Send + Sync {
    /// The record of `jti` with its account and, when `with_roles`, the account's role names, in
    /// one round trip to the database (these endpoints' hot path).
    async fn find_access_token_with_account(
        &self,
        jti: &str,
        with_roles: bool,
    ) -> StoreResult<Option<AccessTokenWithAccount>>;
    /// The refresh token of `token_hash` with its account (`None` when the account is gone), in one
    /// round trip (introspection of a refresh token).
    async fn find_refresh_token_with_account(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<(RefreshToken, Option<Account>)>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: SigningKey) -> StoreResult<()>;
    /// Newest first.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// In one transaction: the active key of the same algorithm (if any) becomes retired, and `kid` becomes active.
    async fn activate_key(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes retired keys retired before the cutoff.
    async fn delete_retired_keys(&self, retired_before: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: AuditEvent) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    async fn count_audit_events(&self, query: &AuditQuery) -> StoreResult<u64>;
}

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    async fn find_throttle(&self, key: &str) -> StoreResult<Option<ThrottleState>>;
    /// Atomically adds one failure (creating the counter) and returns the new state; concurrent
    /// callers each see a distinct count.
    async fn increment_throttle(&self, key: &str, now: DateTime<Utc>) -> StoreResult<ThrottleState>;
    async fn set_throttle_lock(&self, key: &str, until: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// Atomically replaces an expired lock (`locked_until <= now`, not null) with `until`; returns
    /// whether this caller did it. Of many concurrent callers at most one wins, on every node.
    async fn claim_throttle(&self, key: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool>;
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;
    /// Atomically takes one failure back (never below zero): an attempt counted before the password
    /// was checked that did not fail. A missing counter is left missing.
    async fn forgive_throttle(&self, key: &str) -> StoreResult<()>;
}

/// Everything at once, for code that needs the whole store.
pub trait Store:
    AccountStore + RoleStore + ClientStore + SessionStore + GrantStore + BearerStore + KeyStore + AuditStore + ThrottleStore
{
}

impl<T> Store for T where
    T: AccountStore
        + RoleStore
        + ClientStore
        + SessionStore
        + GrantStore
        + BearerStore
        + KeyStore
        + AuditStore
        + ThrottleStore
{
}
