//! `BearerStore::find_access_token_with_account` (the userinfo and introspection hot path), on
//! SQLite and PostgreSQL: the record, its account and its roles in one query, and the same answers
//! as the separate lookups it replaces (`find_access_token`, `find_account`, `roles_of`) for an
//! active, revoked, expired or unknown token, a deleted or disabled account, with and without roles;
//! and `find_refresh_token_with_account`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use latchkey_core::model::*;
use latchkey_core::secret::TokenHash;
use latchkey_core::store::*;
use latchkey_store::SeaStore;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap()
}

/// What the store keeps of a timestamp: whole microseconds.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

fn new_account(username: &str) -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        email_verified: true,
        password_hash: None,
        display_name: Some(format!("{username} Display")),
    }
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        secret_hash: Some(TokenHash::of("client-secret")),
        name: format!("Client {id}"),
        redirect_uris: vec!["https://rp.example/cb".to_owned()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        scopes: vec!["openid".to_owned(), "roles".to_owned()],
        public: false,
        first_party: false,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        id_token_lifetime: None,
        id_token_signed_response_alg: "RS256".to_owned(),
        from_config: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn access(jti: &str, client: &ClientId, account: Option<AccountId>, expires_at: DateTime<Utc>) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: jti.to_owned(),
        client_id: client.clone(),
        account_id: account,
        family_id: Some(TokenFamilyId::new()),
        scopes: vec!["openid".to_owned(), "profile".to_owned(), "roles".to_owned()],
        created_at: t0(),
        expires_at,
        revoked_at: None,
    }
}

/// What the one query must equal: the three lookups it replaces.
async fn separately(store: &SeaStore, jti: &str, with_roles: bool) -> Option<AccessTokenWithAccount> {
    let record = store.find_access_token(jti).await.unwrap()?;
    let account = match record.account_id {
        Some(id) => store.find_account(id).await.unwrap(),
        None => None,
    };
    let roles = match (&account, with_roles) {
        (Some(a), true) => store.roles_of(a.id).await.unwrap(),
        _ => Vec::new(),
    };
    Some(AccessTokenWithAccount { record, account, roles })
}

async fn one_query(store: &SeaStore, jti: &str, with_roles: bool) -> Option<AccessTokenWithAccount> {
    let found = store.find_access_token_with_account(jti, with_roles).await.unwrap();
    assert_eq!(found, separately(store, jti, with_roles).await, "{jti} with_roles={with_roles}");
    found
}

async fn finds_token_account_and_roles(store: &SeaStore) {
    let rp = store.insert_client(client("rp")).await.unwrap().id;
    let alice = store.insert_account(new_account("alice"), t0()).await.unwrap();
    let bob = store.insert_account(new_account("bob"), t0()).await.unwrap();
    // Granted out of order: the answer is sorted, as roles_of's is.
    let editors = store.insert_role("editors", None).await.unwrap();
    let admin = store.find_role_by_name("admin").await.unwrap().expect("the built-in admin role");
    store.grant_role(alice.id, editors.id).await.unwrap();
    store.grant_role(alice.id, admin.id).await.unwrap();
    let later = t0() + Duration::minutes(10);
    store.insert_access_token(access("alice-at", &rp, Some(alice.id), later)).await.unwrap();
    store.insert_access_token(access("bob-at", &rp, Some(bob.id), later)).await.unwrap();
    store.insert_access_token(access("cc-at", &rp, None, later)).await.unwrap();

    // Active token of an account with roles: the record as stored, the account, the roles when asked.
    let found = one_query(store, "alice-at", true).await.expect("alice's token");
    assert_eq!(found.record.jti, "alice-at");
    assert_eq!(found.record.account_id, Some(alice.id));
    assert_eq!(found.record.expires_at, micros(later));
    assert_eq!(found.record.revoked_at, None);
    assert_eq!(found.account.as_ref().map(|a| a.username.as_str()), Some("alice"));
    assert_eq!(found.roles, ["admin", "editors"]);
    let without = one_query(store, "alice-at", false).await.expect("alice's token");
    assert!(without.roles.is_empty(), "roles only when asked");
    assert_eq!(without.account, found.account);

    // An account without roles: still its one row, with no roles.
    let found = one_query(store, "bob-at", true).await.expect("bob's token");
    assert_eq!(found.account.map(|a| a.id), Some(bob.id));
    assert!(found.roles.is_empty());

    // A client_credentials token: no account, no roles, with or without asking.
    for with_roles in [false, true] {
        let found = one_query(store, "cc-at", with_roles).await.expect("the service token");
        assert_eq!((found.record.account_id, found.account, found.roles), (None, None, Vec::new()));
    }

    // Unknown jti.
    assert!(one_query(store, "no-such-jti", false).await.is_none());
    assert!(one_query(store, "no-such-jti", true).await.is_none());
}

/// Revoked, expired and disabled are facts the store reports as they are (the rules in
/// latchkey-core decide); a deleted account takes its tokens with it (ON DELETE CASCADE).
async fn reports_revoked_expired_disabled_and_deleted(store: &SeaStore) {
    let rp = store.insert_client(client("rp")).await.unwrap().id;
    let carol = store.insert_account(new_account("carol"), t0()).await.unwrap();
    let dave = store.insert_account(new_account("dave"), t0()).await.unwrap();
    let auditor = store.insert_role("auditor", None).await.unwrap();
    store.grant_role(dave.id, auditor.id).await.unwrap();
    store.insert_access_token(access("revoked", &rp, Some(carol.id), t0() + Duration::minutes(10))).await.unwrap();
    store.insert_access_token(access("expired", &rp, Some(carol.id), t0() - Duration::seconds(1))).await.unwrap();
    store.insert_access_token(access("dave-at", &rp, Some(dave.id), t0() + Duration::minutes(10))).await.unwrap();

    let at = t0() + Duration::minutes(1);
    assert!(store.revoke_access_token("revoked", at).await.unwrap());
    let found = one_query(store, "revoked", true).await.expect("a revoked record is still found");
    assert_eq!(found.record.revoked_at, Some(micros(at)));

    let found = one_query(store, "expired", false).await.expect("an expired record is still found");
    assert!(found.record.expires_at < t0());

    store.set_account_disabled(dave.id, true, at).await.unwrap();
    let found = one_query(store, "dave-at", true).await.expect("dave's token");
    assert!(found.account.as_ref().is_some_and(|a| a.disabled), "the account says it is disabled");
    assert_eq!(found.roles, ["auditor"]);

    assert!(store.delete_account(dave.id).await.unwrap());
    assert!(one_query(store, "dave-at", true).await.is_none(), "gone with its account");
    assert!(one_query(store, "dave-at", false).await.is_none());
}

/// A refresh token with its account in one query: the same as `find_refresh_token` then `find_account`.
async fn finds_refresh_token_and_account(store: &SeaStore) {
    let rp = store.insert_client(client("rp")).await.unwrap().id;
    let erin = store.insert_account(new_account("erin"), t0()).await.unwrap();
    let token = RefreshToken {
        token_hash: TokenHash::of("erin-refresh"),
        family_id: TokenFamilyId::new(),
        parent_hash: None,
        client_id: rp.clone(),
        account_id: erin.id,
        session_id: None,
        scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
        family_expires_at: t0() + Duration::days(90),
        used_at: None,
        revoked_at: None,
    };
    store.insert_refresh_token(token.clone()).await.unwrap();
    let separately = |hash: TokenHash| async move {
        let token = store.find_refresh_token(&hash).await.unwrap()?;
        let account = store.find_account(token.account_id).await.unwrap();
        Some((token, account))
    };

    let found = store.find_refresh_token_with_account(&token.token_hash).await.unwrap();
    assert_eq!(found, separately(token.token_hash.clone()).await);
    let (stored, account) = found.expect("erin's refresh token");
    assert_eq!((stored.account_id, stored.expires_at), (erin.id, micros(token.expires_at)));
    assert_eq!(account.map(|a| a.username), Some("erin".to_owned()));

    assert_eq!(store.find_refresh_token_with_account(&TokenHash::of("unknown")).await.unwrap(), None);

    store.set_account_disabled(erin.id, true, t0()).await.unwrap();
    let (_, account) = store.find_refresh_token_with_account(&token.token_hash).await.unwrap().unwrap();
    assert!(account.is_some_and(|a| a.disabled));

    assert!(store.delete_account(erin.id).await.unwrap());
    assert_eq!(store.find_refresh_token_with_account(&token.token_hash).await.unwrap(), None, "gone with its account");
}

latchkey_store::both_databases!(pool = 8; finds_token_account_and_roles, reports_revoked_expired_disabled_and_deleted, finds_refresh_token_and_account);
