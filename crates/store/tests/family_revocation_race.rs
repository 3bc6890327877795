//! The window between consuming an authorization code (or a refresh token) and storing the tokens
//! it yields (issue #4): a replay of the code, a reuse of the refresh token after the grace period,
//! or a `/revoke` of it, landing in that window, must still leave no valid token of the family.
//!
//! Deterministic: the grant under test runs on a wrapper of the real store that, at one chosen step
//! of the grant (before it stores its access token, before its refresh token, before it reads the
//! family's revocation record), runs the replay to completion on the plain store. Each interleaving
//! runs on SQLite (in memory) and on PostgreSQL (a fresh database, skipped loudly when unreachable
//! outside CI, like the store tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use latchkey_core::error::{OAuthError, OAuthErrorCode, StoreResult};
use latchkey_core::grants::refresh_token::RefreshPolicy;
use latchkey_core::grants::{GrantContext, TokenRequest, TokenResponse, authorization_code, refresh_token};
use latchkey_core::introspect;
use latchkey_core::jws::KeyRing;
use latchkey_core::keys::{Algorithm, Kek, generate_signing_key};
use latchkey_core::model::*;
use latchkey_core::secret::{Secret, TokenHash};
use latchkey_core::store::*;
use latchkey_core::tokens::{TokenSettings, verify_id_token};
use latchkey_store::SeaStore;

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://rp.example/cb";
const NONCE: &str = "n-0S6_WzA2Mj";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// Where, in the grant under test, the replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// The code (or parent token) is consumed; nothing of the new tokens exists yet.
    AccessInsert,
    /// The access token is stored, the refresh token not yet.
    RefreshInsert,
    /// Both are stored; the grant has not read the family's revocation record yet.
    RevocationCheck,
}

const STEPS: [Before; 3] = [Before::AccessInsert, Before::RefreshInsert, Before::RevocationCheck];

type Replay = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The real store, with one replay run at `step` of the grant that uses it, and a note of every
/// token the grant stored.
struct Interleaved {
    inner: SeaStore,
    step: Before,
    replay: Mutex<Option<Replay>>,
    replayed: Mutex<bool>,
    access_jtis: Mutex<Vec<String>>,
    refresh_hashes: Mutex<Vec<TokenHash>>,
}

impl Interleaved {
    fn new(inner: &SeaStore, step: Before, replay: Replay) -> Self {
        Self {
            inner: inner.clone(),
            step,
            replay: Mutex::new(Some(replay)),
            replayed: Mutex::new(false),
            access_jtis: Mutex::default(),
            refresh_hashes: Mutex::default(),
        }
    }

    async fn at(&self, step: Before) {
        if step != self.step {
            return;
        }
        let replay = self.replay.lock().unwrap().take();
        if let Some(replay) = replay {
            replay.await;
            *self.replayed.lock().unwrap() = true;
        }
    }
}

#[async_trait]
impl GrantStore for Interleaved {
    async fn insert_code(&self, code: AuthorizationCode) -> StoreResult<()> {
        self.inner.insert_code(code).await
    }
    async fn consume_code(&self, hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<Consumed<AuthorizationCode>> {
        self.inner.consume_code(hash, now).await
    }
    async fn insert_refresh_token(&self, token: RefreshToken) -> StoreResult<()> {
        self.at(Before::RefreshInsert).await;
        self.refresh_hashes.lock().unwrap().push(token.token_hash.clone());
        self.inner.insert_refresh_token(token).await
    }
    async fn find_refresh_token(&self, hash: &TokenHash) -> StoreResult<Option<RefreshToken>> {
        self.inner.find_refresh_token(hash).await
    }
    async fn consume_refresh_token(&self, hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<Consumed<RefreshToken>> {
        self.inner.consume_refresh_token(hash, now).await
    }
    async fn insert_access_token(&self, record: AccessTokenRecord) -> StoreResult<()> {
        self.at(Before::AccessInsert).await;
        self.access_jtis.lock().unwrap().push(record.jti.clone());
        self.inner.insert_access_token(record).await
    }
    async fn find_access_token(&self, jti: &str) -> StoreResult<Option<AccessTokenRecord>> {
        self.inner.find_access_token(jti).await
    }
    async fn revoke_access_token(&self, jti: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_access_token(jti, now).await
    }
    async fn revoke_token_family(&self, family: TokenFamilyId, now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.revoke_token_family(family, now).await
    }
    async fn find_family_revocation(&self, family: TokenFamilyId) -> StoreResult<Option<DateTime<Utc>>> {
        self.at(Before::RevocationCheck).await;
        self.inner.find_family_revocation(family).await
    }
    async fn revoke_tokens_of(&self, a: AccountId, c: Option<&ClientId>, now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.revoke_tokens_of(a, c, now).await
    }
    async fn find_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<Option<Consent>> {
        self.inner.find_consent(account, client).await
    }
    async fn upsert_consent(&self, consent: Consent) -> StoreResult<()> {
        self.inner.upsert_consent(consent).await
    }
    async fn delete_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<bool> {
        self.inner.delete_consent(account, client).await
    }
    async fn list_consents_of(&self, account: AccountId) -> StoreResult<Vec<Consent>> {
        self.inner.list_consents_of(account).await
    }
    async fn purge_expired_grants(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.purge_expired_grants(before).await
    }
}

#[async_trait]
impl AccountStore for Interleaved {
    async fn insert_account_with_roles(
        &self,
        account: NewAccount,
        roles: &[RoleId],
        password_change_required: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        self.inner.insert_account_with_roles(account, roles, password_change_required, now).await
    }
    async fn find_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        self.inner.find_account(id).await
    }
    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>> {
        self.inner.find_account_by_username(username).await
    }
    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        self.inner.find_account_by_email(email).await
    }
    async fn list_accounts(&self, query: &AccountQuery) -> StoreResult<Vec<Account>> {
        self.inner.list_accounts(query).await
    }
    async fn count_accounts(&self, search: Option<&str>) -> StoreResult<u64> {
        self.inner.count_accounts(search).await
    }
    async fn update_password_hash(&self, id: AccountId, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.update_password_hash(id, hash, now).await
    }
    async fn update_profile(
        &self,
        id: AccountId,
        email: &str,
        email_verified: bool,
        display_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner.update_profile(id, email, email_verified, display_name, now).await
    }
    async fn set_account_disabled(&self, id: AccountId, disabled: bool, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.set_account_disabled(id, disabled, now).await
    }
    async fn set_password_change_required(&self, id: AccountId, required: bool, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.set_password_change_required(id, required, now).await
    }
    async fn delete_account(&self, id: AccountId) -> StoreResult<bool> {
        self.inner.delete_account(id).await
    }
}

#[async_trait]
impl RoleStore for Interleaved {
    async fn insert_role(&self, name: &str, description: Option<&str>) -> StoreResult<Role> {
        self.inner.insert_role(name, description).await
    }
    async fn find_role_by_name(&self, name: &str) -> StoreResult<Option<Role>> {
        self.inner.find_role_by_name(name).await
    }
    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.inner.list_roles().await
    }
    async fn delete_role(&self, id: RoleId) -> StoreResult<bool> {
        self.inner.delete_role(id).await
    }
    async fn grant_role(&self, account: AccountId, role: RoleId) -> StoreResult<()> {
        self.inner.grant_role(account, role).await
    }
    async fn revoke_role(&self, account: AccountId, role: RoleId) -> StoreResult<bool> {
        self.inner.revoke_role(account, role).await
    }
    async fn roles_of(&self, account: AccountId) -> StoreResult<Vec<String>> {
        self.inner.roles_of(account).await
    }
    async fn roles_of_accounts(&self, accounts: &[AccountId]) -> StoreResult<HashMap<AccountId, Vec<String>>> {
        self.inner.roles_of_accounts(accounts).await
    }
}

/// What every grant here shares: the store with an account and a client, and the signing keys.
#[derive(Clone)]
struct Fixture {
    store: SeaStore,
    keys: Arc<KeyRing>,
    client: Client,
    account: AccountId,
}

fn client() -> Client {
    Client {
        id: ClientId("rp".into()),
        secret_hash: Some(TokenHash::of("client-secret")),
        name: "RP".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "offline_access".into()],
        public: false,
        first_party: false,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        id_token_lifetime: None,
        id_token_signed_response_alg: "RS256".into(),
        from_config: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

impl Fixture {
    async fn new(store: &SeaStore) -> Self {
        let account = NewAccount {
            id: AccountId::new(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            password_hash: None,
            display_name: None,
        };
        let account = store.insert_account(account, t0()).await.unwrap().id;
        let client = store.insert_client(client()).await.unwrap();
        let kek = Kek::generate().unwrap();
        let mut key = generate_signing_key(Algorithm::Rs256, &kek, t0()).unwrap();
        key.state = KeyState::Active;
        key.activated_at = Some(t0());
        let keys = Arc::new(KeyRing::load(&[key], &kek, t0(), Duration::days(7)).unwrap());
        Self { store: store.clone(), keys, client, account }
    }

    /// A fresh code for openid and offline_access, signed in (with a password) at `t0`; its clear value.
    async fn code(&self) -> (String, TokenFamilyId) {
        let secret = Secret::generate();
        let family_id = TokenFamilyId::new();
        let code = AuthorizationCode {
            code_hash: secret.hash(),
            client_id: self.client.id.clone(),
            account_id: self.account,
            session_id: None,
            redirect_uri: REDIRECT.into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            nonce: Some(NONCE.into()),
            code_challenge: None,
            code_challenge_method: None,
            family_id,
            auth_time: t0(),
            created_at: t0(),
            expires_at: t0() + authorization_code::CODE_LIFETIME,
            consumed_at: None,
        };
        self.store.insert_code(code).await.unwrap();
        (secret.expose().to_owned(), family_id)
    }

    async fn redeem<S: GrantStore + AccountStore + RoleStore + ?Sized>(
        &self,
        store: &S,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let req = TokenRequest {
            grant_type: Some("authorization_code".into()),
            code: Some(code.into()),
            redirect_uri: Some(REDIRECT.into()),
            ..TokenRequest::default()
        };
        let (settings, policy) = (TokenSettings::default(), RefreshPolicy::default());
        let ctx = GrantContext { store, keys: &self.keys, settings: &settings, issuer: ISSUER, now, refresh: &policy };
        authorization_code::exchange(&ctx, &self.client, &req).await
    }

    async fn refresh<S: GrantStore + AccountStore + RoleStore + ?Sized>(
        &self,
        store: &S,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let req = TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(refresh_token.into()),
            ..TokenRequest::default()
        };
        let (settings, policy) = (TokenSettings::default(), RefreshPolicy::default());
        let ctx = GrantContext { store, keys: &self.keys, settings: &settings, issuer: ISSUER, now, refresh: &policy };
        refresh_token::exchange(&ctx, &self.client, &req).await
    }

    /// Asserts that every token the grant on `wrapper` stored is revoked in the database, and that
    /// there were an access and a refresh token (so the check is not vacuous).
    async fn assert_all_revoked(&self, wrapper: &Interleaved, what: &str) {
        let jtis = wrapper.access_jtis.lock().unwrap().clone();
        let hashes = wrapper.refresh_hashes.lock().unwrap().clone();
        assert_eq!((jtis.len(), hashes.len()), (1, 1), "{what}: one access and one refresh token stored");
        for jti in jtis {
            let record = self.store.find_access_token(&jti).await.unwrap().unwrap();
            assert!(record.revoked_at.is_some(), "{what}: access token {jti} stays valid");
        }
        for hash in hashes {
            let token = self.store.find_refresh_token(&hash).await.unwrap().unwrap();
            assert!(token.revoked_at.is_some(), "{what}: the new refresh token stays valid");
        }
    }
}

fn assert_invalid_grant<T>(result: Result<T, OAuthError>, what: &str) {
    match result {
        Err(e) => assert_eq!(e.code, OAuthErrorCode::InvalidGrant, "{what}: {e:?}"),
        Ok(_) => panic!("{what}: tokens were handed out"),
    }
}

/// A replay of the code at each step of its first redemption: the replay is refused, and so is the
/// first redemption, and neither leaves a valid token.
async fn code_replay_during_redemption_leaves_no_valid_token(store: &SeaStore) {
    let fx = Fixture::new(store).await;
    for step in STEPS {
        let (code, family) = fx.code().await;
        let (replayer, replayed_code) = (fx.clone(), code.clone());
        let replay: Replay = Box::pin(async move {
            let store = replayer.store.clone();
            let replayed = replayer.redeem(&store, &replayed_code, t0() + Duration::seconds(1)).await;
            assert_invalid_grant(replayed, &format!("the replay at {step:?}"));
        });
        let wrapper = Interleaved::new(store, step, replay);
        let first = fx.redeem(&wrapper, &code, t0()).await;
        assert!(*wrapper.replayed.lock().unwrap(), "the replay ran at {step:?}");
        assert_invalid_grant(first, &format!("the first redemption, replayed at {step:?}"));
        fx.assert_all_revoked(&wrapper, &format!("code replayed at {step:?}")).await;
        assert!(store.find_family_revocation(family).await.unwrap().is_some());
    }

    // Without a race: the redemption succeeds and its tokens are live until a later replay revokes them.
    let (code, family) = fx.code().await;
    let tokens = fx.redeem(store, &code, t0()).await.unwrap();
    assert!(tokens.refresh_token.is_some() && tokens.id_token.is_some(), "{tokens:?}");
    assert_eq!(store.find_family_revocation(family).await.unwrap(), None);
    let claims = latchkey_core::tokens::verify_access_token(&fx.keys, ISSUER, &tokens.access_token, t0()).unwrap();
    assert!(store.find_access_token(&claims.jti).await.unwrap().unwrap().revoked_at.is_none());
    assert_invalid_grant(fx.redeem(store, &code, t0() + Duration::seconds(2)).await, "a later replay");
    assert!(store.find_access_token(&claims.jti).await.unwrap().unwrap().revoked_at.is_some());
    let refresh_hash = TokenHash::of(tokens.refresh_token.as_deref().unwrap());
    assert!(store.find_refresh_token(&refresh_hash).await.unwrap().unwrap().revoked_at.is_some());
}

/// Everything of the account revoked (all clients, or this client) at each step of a code's
/// redemption: the redemption is refused and leaves no valid token. A code issued afterwards (a
/// new sign-in) is not affected.
async fn account_revoked_during_redemption_leaves_no_valid_token(store: &SeaStore) {
    let fx = Fixture::new(store).await;
    for only_this_client in [false, true] {
        for step in STEPS {
            let (code, family) = fx.code().await;
            let other = fx.clone();
            let replay: Replay = Box::pin(async move {
                let client = only_this_client.then_some(&other.client.id);
                other.store.revoke_tokens_of(other.account, client, t0() + Duration::seconds(1)).await.unwrap();
            });
            let wrapper = Interleaved::new(store, step, replay);
            let redeemed = fx.redeem(&wrapper, &code, t0()).await;
            let what = format!("account revoked (this client only: {only_this_client}) at {step:?}");
            assert!(*wrapper.replayed.lock().unwrap(), "{what}: the revocation ran");
            assert_invalid_grant(redeemed, &what);
            fx.assert_all_revoked(&wrapper, &what).await;
            assert!(store.find_family_revocation(family).await.unwrap().is_some(), "{what}");
        }
    }
    // Another client's grants survive a revocation of this client's access.
    let other_client = Client { id: ClientId("other-rp".into()), ..client() };
    store.insert_client(other_client.clone()).await.unwrap();
    let (other_code, other_family) = fx.code().await;
    let moved = store.consume_code(&TokenHash::of(&other_code), t0()).await.unwrap();
    assert!(matches!(moved, Consumed::Now(_)), "{moved:?}");
    let survivor = AuthorizationCode {
        code_hash: TokenHash::of("survivor-code"),
        client_id: other_client.id.clone(),
        account_id: fx.account,
        session_id: None,
        redirect_uri: REDIRECT.into(),
        scopes: vec!["openid".into()],
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        family_id: TokenFamilyId::new(),
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + authorization_code::CODE_LIFETIME,
        consumed_at: None,
    };
    store.insert_code(survivor.clone()).await.unwrap();
    store.revoke_tokens_of(fx.account, Some(&fx.client.id), t0() + Duration::seconds(2)).await.unwrap();
    assert!(store.find_family_revocation(other_family).await.unwrap().is_some(), "this client's family");
    assert_eq!(store.find_family_revocation(survivor.family_id).await.unwrap(), None, "the other client's family");

    // A sign-in after the revocation starts a new family, which is not revoked.
    let (code, family) = fx.code().await;
    let tokens = fx.redeem(store, &code, t0() + Duration::seconds(3)).await.unwrap();
    assert!(tokens.refresh_token.is_some(), "{tokens:?}");
    assert_eq!(store.find_family_revocation(family).await.unwrap(), None);
}

/// What revokes the family while a rotation of its refresh token is in flight.
#[derive(Debug, Clone, Copy)]
enum Revoker {
    /// The rotated-out token presented again after the grace period (RFC 9700 §4.14.2).
    ReuseAfterGrace,
    /// The client revokes the token at `/revoke` (RFC 7009 §2.1: the family goes with it).
    Revocation,
    /// Everything of the account is revoked (a password change, a disabled account).
    AccountWide,
    /// The person revokes the application's access in the account console.
    AppAccess,
}

/// A family revoked at each step of a rotation: the rotation is refused and its child token (and
/// access token) are revoked, not left alive in a dead family.
async fn family_revoked_during_rotation_leaves_no_valid_child(store: &SeaStore) {
    let fx = Fixture::new(store).await;
    for revoker in [Revoker::ReuseAfterGrace, Revoker::Revocation, Revoker::AccountWide, Revoker::AppAccess] {
        for step in STEPS {
            let (code, family) = fx.code().await;
            let parent = fx.redeem(store, &code, t0()).await.unwrap().refresh_token.unwrap();
            let rotated_at = t0() + Duration::minutes(1);
            let (other, presented) = (fx.clone(), parent.clone());
            let replay: Replay = Box::pin(async move {
                let store = other.store.clone();
                // Past the default 5 s grace: a reuse, not a concurrent retry.
                let later = rotated_at + Duration::seconds(10);
                match revoker {
                    Revoker::ReuseAfterGrace => {
                        let reused = other.refresh(&store, &presented, later).await;
                        assert_invalid_grant(reused, &format!("the reuse at {step:?}"));
                    }
                    Revoker::Revocation => {
                        introspect::revoke(&store, &other.keys, ISSUER, &other.client, &presented, later)
                            .await
                            .unwrap();
                    }
                    Revoker::AccountWide => {
                        store.revoke_tokens_of(other.account, None, later).await.unwrap();
                    }
                    Revoker::AppAccess => {
                        store.revoke_tokens_of(other.account, Some(&other.client.id), later).await.unwrap();
                    }
                }
            });
            let wrapper = Interleaved::new(store, step, replay);
            let rotation = fx.refresh(&wrapper, &parent, rotated_at).await;
            let what = format!("{revoker:?} at {step:?}");
            assert!(*wrapper.replayed.lock().unwrap(), "{what}: the revocation ran");
            assert_invalid_grant(rotation, &format!("the rotation, {what}"));
            fx.assert_all_revoked(&wrapper, &what).await;
            assert!(store.find_family_revocation(family).await.unwrap().is_some(), "{what}");
        }
    }
}

/// OIDC Core §12.2: the refreshed ID token keeps the original authentication's `auth_time` and
/// `amr`, and has no nonce; the code's ID token has all three.
async fn refreshed_id_token_keeps_amr_and_auth_time(store: &SeaStore) {
    let fx = Fixture::new(store).await;
    let (code, _) = fx.code().await;
    let first = fx.redeem(store, &code, t0() + Duration::seconds(5)).await.unwrap();
    let at = t0() + Duration::hours(2);
    let refreshed = fx.refresh(store, first.refresh_token.as_deref().unwrap(), at).await.unwrap();
    let original = verify_id_token(&fx.keys, ISSUER, first.id_token.as_deref().unwrap(), true, at).unwrap();
    let renewed = verify_id_token(&fx.keys, ISSUER, refreshed.id_token.as_deref().unwrap(), false, at).unwrap();
    let pwd = Some(vec!["pwd".to_owned()]);
    assert_eq!(
        (original.amr.clone(), original.auth_time, original.nonce.as_deref()),
        (pwd.clone(), 1_800_000_000, Some(NONCE))
    );
    assert_eq!((renewed.amr, renewed.auth_time, renewed.nonce), (pwd, original.auth_time, None));
    assert_eq!((renewed.sub, renewed.iat), (original.sub, at.timestamp()));
}

/// The revocation record: written even when the family has no tokens yet, first time kept, purged
/// with the expired grants once older than the cutoff (and not counted as a grant).
async fn family_revocation_record(store: &SeaStore) {
    let family = TokenFamilyId::new();
    assert_eq!(store.find_family_revocation(family).await.unwrap(), None);
    assert_eq!(store.revoke_token_family(family, t0()).await.unwrap(), 0, "no token rows yet");
    assert_eq!(store.find_family_revocation(family).await.unwrap(), Some(t0()));
    assert_eq!(store.revoke_token_family(family, t0() + Duration::minutes(1)).await.unwrap(), 0);
    assert_eq!(store.find_family_revocation(family).await.unwrap(), Some(t0()), "the first revocation's time");
    assert_eq!(store.purge_expired_grants(t0()).await.unwrap(), 0);
    assert_eq!(store.find_family_revocation(family).await.unwrap(), Some(t0()), "not older than the cutoff");
    assert_eq!(store.purge_expired_grants(t0() + Duration::seconds(1)).await.unwrap(), 0, "not a grant");
    assert_eq!(store.find_family_revocation(family).await.unwrap(), None);
}

latchkey_store::both_databases!(pool = 4;
    code_replay_during_redemption_leaves_no_valid_token,
    account_revoked_during_redemption_leaves_no_valid_token,
    family_revoked_during_rotation_leaves_no_valid_child,
    refreshed_id_token_keeps_amr_and_auth_time,
    family_revocation_record,
);
