//! Every repository method, on SQLite (in memory, one connection) and on PostgreSQL (a fresh
//! database per test, dropped afterwards). Each scenario is written once, over a `SeaStore`, and
//! the `both!` macro runs it on each backend. The PostgreSQL half is skipped loudly when no server
//! is reachable outside CI, and fails in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use latchkey_core::StoreError;
use latchkey_core::model::*;
use latchkey_core::secret::{Secret, TokenHash};
use latchkey_core::store::*;
use latchkey_store::SeaStore;
use latchkey_store::testing::{TempPostgres, sqlite_memory};

/// A fixed instant with sub-microsecond digits, so every round-trip also checks the truncation.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap()
}

/// What the store keeps of a timestamp: whole microseconds.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

fn new_account(username: &str, email: &str) -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        username: username.to_owned(),
        email: email.to_owned(),
        email_verified: false,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        display_name: Some(format!("{username} Display")),
    }
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        secret_hash: Some(TokenHash::of("client-secret")),
        name: format!("Client {id}"),
        redirect_uris: vec!["https://rp.example/cb".to_owned(), "http://127.0.0.1:8081/cb".to_owned()],
        post_logout_redirect_uris: vec!["https://rp.example/bye".to_owned()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".to_owned(), "profile".to_owned(), "email".to_owned()],
        public: false,
        first_party: false,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_token_lifetime: Some(600),
        refresh_token_lifetime: None,
        id_token_lifetime: Some(300),
        id_token_signed_response_alg: "RS256".to_owned(),
        from_config: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn session(account: AccountId, at: DateTime<Utc>, remember_me: bool) -> Session {
    Session {
        id: SessionId::new(),
        secret_hash: Secret::generate().hash(),
        account_id: account,
        created_at: at,
        last_seen_at: at,
        auth_time: at,
        expires_at: at + Duration::days(30),
        remember_me,
        user_agent: Some("test-agent".to_owned()),
        client_ip: Some("127.0.0.1".to_owned()),
    }
}

fn code(client: &ClientId, account: AccountId, family: TokenFamilyId) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: Secret::generate().hash(),
        client_id: client.clone(),
        account_id: account,
        session_id: Some(SessionId::new()),
        redirect_uri: "https://rp.example/cb".to_owned(),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        code_challenge_method: Some("S256".to_owned()),
        family_id: family,
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + Duration::seconds(60),
        consumed_at: None,
    }
}

fn refresh(client: &ClientId, account: AccountId, family: TokenFamilyId, parent: Option<TokenHash>) -> RefreshToken {
    RefreshToken {
        token_hash: Secret::generate().hash(),
        family_id: family,
        parent_hash: parent,
        client_id: client.clone(),
        account_id: account,
        session_id: None,
        scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
        family_expires_at: t0() + Duration::days(90),
        used_at: None,
        revoked_at: None,
    }
}

fn access(
    jti: &str,
    client: &ClientId,
    account: Option<AccountId>,
    family: Option<TokenFamilyId>,
) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: jti.to_owned(),
        client_id: client.clone(),
        account_id: account,
        family_id: family,
        scopes: vec!["openid".to_owned()],
        created_at: t0(),
        expires_at: t0() + Duration::minutes(10),
        revoked_at: None,
    }
}

fn signing_key(kid: &str, alg: &str, state: KeyState, created_at: DateTime<Utc>) -> SigningKey {
    SigningKey {
        kid: kid.to_owned(),
        algorithm: alg.to_owned(),
        encrypted_private_key: vec![0, 1, 2, 250, 251, 255],
        public_jwk: serde_json::json!({"kty": "RSA", "kid": kid, "n": "abc", "e": "AQAB"}),
        state,
        created_at,
        activated_at: None,
        retired_at: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn accounts_round_trip_and_update(store: &SeaStore) {
    let new = new_account("alice", "Alice@Example.com");
    let id = new.id;
    let created = store.insert_account(new, t0()).await.unwrap();
    assert_eq!(created.created_at, micros(t0()));
    assert!(!created.disabled && !created.password_change_required);

    let found = store.find_account(id).await.unwrap().unwrap();
    assert_eq!(found, created, "what insert returns is what is stored");
    assert_eq!(store.find_account_by_username("alice").await.unwrap().unwrap().id, id);
    assert_eq!(store.find_account_by_email("ALICE@example.COM").await.unwrap().unwrap().id, id);
    assert_eq!(found.email, "Alice@Example.com", "the email is kept as typed");
    assert!(store.find_account_by_username("bob").await.unwrap().is_none());
    assert!(store.find_account(AccountId::new()).await.unwrap().is_none());

    let later = t0() + Duration::minutes(5);
    store.update_password_hash(id, "$argon2id$new", later).await.unwrap();
    store.update_profile(id, "alice@new.example", true, Some("Alice A."), later).await.unwrap();
    store.set_account_disabled(id, true, later).await.unwrap();
    store.set_password_change_required(id, true, later).await.unwrap();
    let updated = store.find_account(id).await.unwrap().unwrap();
    assert_eq!(updated.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(updated.email, "alice@new.example");
    assert!(updated.email_verified && updated.disabled && updated.password_change_required);
    assert_eq!(updated.display_name.as_deref(), Some("Alice A."));
    assert_eq!(updated.created_at, micros(t0()));
    assert_eq!(updated.updated_at, micros(later));
    assert!(store.find_account_by_email("Alice@Example.com").await.unwrap().is_none(), "old email released");

    let missing = AccountId::new();
    assert!(matches!(store.update_password_hash(missing, "x", later).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.set_account_disabled(missing, true, later).await, Err(StoreError::NotFound(_))));
    assert!(store.delete_account(id).await.unwrap());
    assert!(!store.delete_account(id).await.unwrap());
    assert!(store.find_account(id).await.unwrap().is_none());
}

async fn accounts_list_and_search(store: &SeaStore) {
    for (name, email, display) in [
        ("carol", "carol@example.com", Some("Carol Smith")),
        ("bob", "Bob@Example.org", None),
        ("dave", "d@example.net", Some("Big DAVE")),
        ("erin_x", "erin@example.com", Some("100% Erin")),
    ] {
        let mut new = new_account(name, email);
        new.display_name = display.map(str::to_owned);
        store.insert_account(new, t0()).await.unwrap();
    }
    let names = |accounts: Vec<Account>| accounts.into_iter().map(|a| a.username).collect::<Vec<_>>();
    let all = AccountQuery { search: None, limit: 0, offset: 0 };
    assert_eq!(names(store.list_accounts(&all).await.unwrap()), ["bob", "carol", "dave", "erin_x"]);
    assert_eq!(store.count_accounts(None).await.unwrap(), 4);

    let page = AccountQuery { search: None, limit: 2, offset: 1 };
    assert_eq!(names(store.list_accounts(&page).await.unwrap()), ["carol", "dave"]);

    let search = |s: &str| AccountQuery { search: Some(s.to_owned()), limit: 50, offset: 0 };
    assert_eq!(names(store.list_accounts(&search("EXAMPLE.ORG")).await.unwrap()), ["bob"], "email, any case");
    assert_eq!(names(store.list_accounts(&search("big dave")).await.unwrap()), ["dave"], "display name");
    assert_eq!(names(store.list_accounts(&search("AR")).await.unwrap()), ["carol"], "username substring");
    assert_eq!(names(store.list_accounts(&search("example.com")).await.unwrap()), ["carol", "erin_x"]);
    // LIKE wildcards in the search are literal characters.
    assert_eq!(names(store.list_accounts(&search("100%")).await.unwrap()), ["erin_x"]);
    assert_eq!(names(store.list_accounts(&search("_")).await.unwrap()), ["erin_x"]);
    assert!(store.list_accounts(&search("nobody")).await.unwrap().is_empty());
    assert_eq!(store.count_accounts(Some("example.com")).await.unwrap(), 2);
    assert_eq!(store.count_accounts(Some("  ")).await.unwrap(), 4, "a blank search matches everyone");
}

async fn account_uniqueness_conflicts(store: &SeaStore) {
    store.insert_account(new_account("frank", "Frank@Example.com"), t0()).await.unwrap();
    let err = store.insert_account(new_account("frank", "other@example.com"), t0()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(f) if f == "username"), "{err:?}");
    let err = store.insert_account(new_account("frank2", "FRANK@example.COM"), t0()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(f) if f == "email"), "{err:?}");

    let other = new_account("grace", "grace@example.com");
    let other_id = other.id;
    store.insert_account(other, t0()).await.unwrap();
    let err = store.update_profile(other_id, "frank@EXAMPLE.com", false, None, t0()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(f) if f == "email"), "{err:?}");
    // The id is unique too.
    let mut dup = new_account("heidi", "heidi@example.com");
    dup.id = other_id;
    assert!(matches!(store.insert_account(dup, t0()).await, Err(StoreError::Conflict(_))));
}

async fn roles_grant_and_revoke(store: &SeaStore) {
    let admin = store.find_role_by_name("admin").await.unwrap().expect("the migration seeds admin");
    assert!(admin.builtin);
    let auditor = store.insert_role("auditor", Some("Reads the audit log")).await.unwrap();
    assert!(!auditor.builtin);
    assert_eq!(store.find_role_by_name("auditor").await.unwrap(), Some(auditor.clone()));
    let err = store.insert_role("auditor", None).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(f) if f == "role"), "{err:?}");
    let names: Vec<String> = store.list_roles().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["admin", "auditor"]);

    let new = new_account("ivan", "ivan@example.com");
    let id = new.id;
    store.insert_account(new, t0()).await.unwrap();
    assert!(store.roles_of(id).await.unwrap().is_empty());
    store.grant_role(id, auditor.id).await.unwrap();
    store.grant_role(id, admin.id).await.unwrap();
    store.grant_role(id, admin.id).await.unwrap(); // idempotent
    assert_eq!(store.roles_of(id).await.unwrap(), ["admin", "auditor"]);
    assert!(matches!(store.grant_role(AccountId::new(), admin.id).await, Err(StoreError::NotFound(_))));

    assert!(store.revoke_role(id, admin.id).await.unwrap());
    assert!(!store.revoke_role(id, admin.id).await.unwrap());
    assert_eq!(store.roles_of(id).await.unwrap(), ["auditor"]);

    assert!(!store.delete_role(admin.id).await.unwrap(), "built-in roles stay");
    assert!(store.delete_role(auditor.id).await.unwrap());
    assert!(store.roles_of(id).await.unwrap().is_empty(), "deleting a role ungrants it");
}

async fn accounts_are_created_with_their_roles_or_not_at_all(store: &SeaStore) {
    let admin = store.find_role_by_name("admin").await.unwrap().unwrap();
    let editor = store.insert_role("editor", None).await.unwrap();
    let new = new_account("judy", "judy@example.com");
    let id = new.id;
    let account = store.insert_account_with_roles(new, &[admin.id, editor.id], true, t0()).await.unwrap();
    assert!(account.password_change_required);
    assert_eq!(store.find_account(id).await.unwrap(), Some(account));
    assert_eq!(store.roles_of(id).await.unwrap(), ["admin", "editor"]);

    // A role that no longer exists (deleted between the check and the insert): no account at all.
    let new = new_account("karl", "karl@example.com");
    let id = new.id;
    let err = store.insert_account_with_roles(new, &[editor.id, RoleId::new()], false, t0()).await.unwrap_err();
    assert!(matches!(&err, StoreError::NotFound(what) if what == "role"), "{err:?}");
    assert_eq!(store.find_account(id).await.unwrap(), None, "rolled back");
    assert_eq!(store.find_account_by_username("karl").await.unwrap(), None);
    // The username is free again, so the same account can be created once the roles are right.
    store.insert_account_with_roles(new_account("karl", "karl@example.com"), &[editor.id], false, t0()).await.unwrap();
}

async fn clients_crud(store: &SeaStore) {
    let c = client("rp-one");
    let stored = store.insert_client(c.clone()).await.unwrap();
    assert_eq!(stored.created_at, micros(t0()));
    let found = store.find_client(&c.id).await.unwrap().unwrap();
    assert_eq!(found, stored);
    assert_eq!(found.grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    assert_eq!(found.redirect_uris, c.redirect_uris);
    let err = store.insert_client(client("rp-one")).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(f) if f == "client_id"), "{err:?}");

    let mut public = client("a-public");
    public.secret_hash = None;
    public.public = true;
    public.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
    store.insert_client(public).await.unwrap();
    let ids: Vec<String> = store.list_clients().await.unwrap().into_iter().map(|c| c.id.0).collect();
    assert_eq!(ids, ["a-public", "rp-one"]);

    let later = t0() + Duration::hours(1);
    let mut changed = found.clone();
    changed.name = "Renamed".to_owned();
    changed.scopes = vec!["openid".to_owned()];
    changed.first_party = true;
    changed.created_at = later; // ignored: created_at never changes
    changed.updated_at = later;
    let updated = store.update_client(changed).await.unwrap();
    assert_eq!(updated.name, "Renamed");
    assert!(updated.first_party);
    assert_eq!(updated.created_at, micros(t0()));
    assert_eq!(updated.updated_at, micros(later));
    assert!(matches!(store.update_client(client("nope")).await, Err(StoreError::NotFound(_))));

    let new_hash = TokenHash::of("rotated");
    store.update_client_secret(&c.id, new_hash.clone(), later).await.unwrap();
    assert_eq!(store.find_client(&c.id).await.unwrap().unwrap().secret_hash, Some(new_hash));

    // Declarative registrations: insert, then replace everything but created_at.
    let mut declared = client("from-config");
    declared.from_config = true;
    let first = store.upsert_client(declared.clone()).await.unwrap();
    assert!(first.from_config);
    declared.name = "Declared again".to_owned();
    declared.created_at = later;
    declared.updated_at = later;
    let second = store.upsert_client(declared).await.unwrap();
    assert_eq!(second.name, "Declared again");
    assert_eq!(second.created_at, micros(t0()));
    assert_eq!(second.updated_at, micros(later));

    assert!(store.delete_client(&c.id).await.unwrap());
    assert!(!store.delete_client(&c.id).await.unwrap());
    assert!(store.find_client(&c.id).await.unwrap().is_none());
}

async fn sessions_lifecycle(store: &SeaStore) {
    let new = new_account("judy", "judy@example.com");
    let account = new.id;
    store.insert_account(new, t0()).await.unwrap();

    let s1 = session(account, t0(), false);
    let s2 = session(account, t0() + Duration::minutes(1), true);
    let s3 = session(account, t0() + Duration::minutes(2), false);
    for s in [&s1, &s2, &s3] {
        store.insert_session(s.clone()).await.unwrap();
    }
    let found = store.find_session_by_secret(&s1.secret_hash).await.unwrap().unwrap();
    assert_eq!(found.id, s1.id);
    assert_eq!(found.expires_at, micros(s1.expires_at));
    assert_eq!(store.find_session(s2.id).await.unwrap().unwrap().secret_hash, s2.secret_hash);
    assert!(store.find_session_by_secret(&TokenHash::of("nope")).await.unwrap().is_none());
    let dup = Session { id: SessionId::new(), ..s1.clone() };
    assert!(matches!(store.insert_session(dup).await, Err(StoreError::Conflict(_))), "secret hashes are unique");

    let listed: Vec<SessionId> = store.list_sessions_of(account).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, [s3.id, s2.id, s1.id], "newest first");

    let seen = t0() + Duration::minutes(30);
    store.touch_session(s1.id, seen).await.unwrap();
    assert_eq!(store.find_session(s1.id).await.unwrap().unwrap().last_seen_at, micros(seen));
    assert!(matches!(store.touch_session(SessionId::new(), seen).await, Err(StoreError::NotFound(_))));

    // At t0+40min with a 1 h idle timeout (cutoff t0-20min) and 14-day remember-me: all live.
    let now = t0() + Duration::minutes(40);
    assert_eq!(store.count_active_sessions(now).await.unwrap(), 3);
    assert_eq!(store.purge_sessions(now, now - Duration::hours(1), now - Duration::days(14)).await.unwrap(), 0);
    // At t0+80min (idle cutoff t0+20min): s3 (seen t0+2min) is idle past the hour; s1 was touched
    // at t0+30min; s2 is remembered.
    let now = t0() + Duration::minutes(80);
    assert_eq!(store.purge_sessions(now, now - Duration::hours(1), now - Duration::days(14)).await.unwrap(), 1);
    assert!(store.find_session(s3.id).await.unwrap().is_none());
    // Past the absolute expiry everything goes.
    let far = t0() + Duration::days(31);
    assert_eq!(store.count_active_sessions(far).await.unwrap(), 0);

    assert_eq!(store.delete_sessions_of(account, Some(s2.id)).await.unwrap(), 1);
    assert_eq!(store.list_sessions_of(account).await.unwrap().len(), 1);
    assert!(store.delete_session(s2.id).await.unwrap());
    assert!(!store.delete_session(s2.id).await.unwrap());
    assert_eq!(store.purge_sessions(far, far, far).await.unwrap(), 0);
}

async fn codes_are_consumed_once(store: &SeaStore) {
    let (account, client_id) = account_and_client(store, "kate", "rp-codes").await;
    let c = code(&client_id, account, TokenFamilyId::new());
    store.insert_code(c.clone()).await.unwrap();
    assert!(matches!(store.insert_code(c.clone()).await, Err(StoreError::Conflict(_))));

    let first = t0() + Duration::seconds(5);
    let Consumed::Now(got) = store.consume_code(&c.code_hash, first).await.unwrap() else { panic!("first consume") };
    assert_eq!(got.consumed_at, Some(micros(first)));
    assert_eq!(got, AuthorizationCode { consumed_at: Some(micros(first)), ..expected_code(&c) });
    let Consumed::Already(again) = store.consume_code(&c.code_hash, first + Duration::seconds(1)).await.unwrap() else {
        panic!("replay")
    };
    assert_eq!(again.consumed_at, Some(micros(first)), "the first consumption's time");
    assert_eq!(store.consume_code(&TokenHash::of("nope"), first).await.unwrap(), Consumed::Missing);
}

fn expected_code(c: &AuthorizationCode) -> AuthorizationCode {
    AuthorizationCode {
        auth_time: micros(c.auth_time),
        created_at: micros(c.created_at),
        expires_at: micros(c.expires_at),
        ..c.clone()
    }
}

async fn refresh_and_access_tokens(store: &SeaStore) {
    let (account, client_id) = account_and_client(store, "leo", "rp-tokens").await;
    let family = TokenFamilyId::new();
    let parent = refresh(&client_id, account, family, None);
    let child = refresh(&client_id, account, family, Some(parent.token_hash.clone()));
    let other_family = refresh(&client_id, account, TokenFamilyId::new(), None);
    for t in [&parent, &child, &other_family] {
        store.insert_refresh_token(t.clone()).await.unwrap();
    }
    let found = store.find_refresh_token(&child.token_hash).await.unwrap().unwrap();
    assert_eq!(found.parent_hash, Some(parent.token_hash.clone()));
    assert_eq!(found.family_expires_at, micros(child.family_expires_at));
    assert!(store.find_refresh_token(&TokenHash::of("nope")).await.unwrap().is_none());

    let at = t0() + Duration::minutes(1);
    assert!(
        matches!(store.consume_refresh_token(&parent.token_hash, at).await.unwrap(), Consumed::Now(t) if t.used_at == Some(micros(at)))
    );
    assert!(matches!(store.consume_refresh_token(&parent.token_hash, at).await.unwrap(), Consumed::Already(_)));
    assert_eq!(store.consume_refresh_token(&TokenHash::of("nope"), at).await.unwrap(), Consumed::Missing);

    store.insert_access_token(access("jti-1", &client_id, Some(account), Some(family))).await.unwrap();
    store.insert_access_token(access("jti-2", &client_id, Some(account), None)).await.unwrap();
    store.insert_access_token(access("jti-cc", &client_id, None, None)).await.unwrap();
    let rec = store.find_access_token("jti-1").await.unwrap().unwrap();
    assert_eq!(rec.family_id, Some(family));
    assert_eq!(rec.expires_at, micros(t0() + Duration::minutes(10)));
    assert!(store.find_access_token("jti-none").await.unwrap().is_none());
    assert!(matches!(
        store.insert_access_token(access("jti-1", &client_id, None, None)).await,
        Err(StoreError::Conflict(f)) if f == "jti"
    ));

    assert!(store.revoke_access_token("jti-2", at).await.unwrap());
    assert!(!store.revoke_access_token("jti-2", at).await.unwrap(), "already revoked");
    assert_eq!(store.find_access_token("jti-2").await.unwrap().unwrap().revoked_at, Some(micros(at)));

    // The family: two refresh tokens and one access token.
    assert_eq!(store.revoke_token_family(family, at).await.unwrap(), 3);
    assert_eq!(store.revoke_token_family(family, at).await.unwrap(), 0);
    assert_eq!(store.find_refresh_token(&child.token_hash).await.unwrap().unwrap().revoked_at, Some(micros(at)));
    assert!(store.find_refresh_token(&other_family.token_hash).await.unwrap().unwrap().revoked_at.is_none());

    // Everything of the account for another client: nothing; for all clients: the other family's token.
    assert_eq!(store.revoke_tokens_of(account, Some(&ClientId("elsewhere".into())), at).await.unwrap(), 0);
    assert_eq!(store.revoke_tokens_of(account, Some(&client_id), at).await.unwrap(), 1);
    store.insert_access_token(access("jti-3", &client_id, Some(account), None)).await.unwrap();
    assert_eq!(store.revoke_tokens_of(account, None, at).await.unwrap(), 1);
    assert!(store.find_access_token("jti-cc").await.unwrap().unwrap().revoked_at.is_none(), "not the account's");

    // Purge: codes, refresh and access tokens expired before the cutoff.
    store.insert_code(code(&client_id, account, family)).await.unwrap();
    let purged = store.purge_expired_grants(t0() + Duration::minutes(11)).await.unwrap();
    assert_eq!(purged, 1 + 4, "the code and the four 10-minute access tokens");
    assert!(store.find_refresh_token(&child.token_hash).await.unwrap().is_some());
    assert_eq!(store.purge_expired_grants(t0() + Duration::days(31)).await.unwrap(), 3);
}

async fn consents_upsert_and_list(store: &SeaStore) {
    let (account, a) = account_and_client(store, "mallory", "rp-b").await;
    let b = ClientId("rp-a".to_owned());
    store.insert_client(client("rp-a")).await.unwrap();
    assert!(store.find_consent(account, &a).await.unwrap().is_none());
    let consent =
        Consent { account_id: account, client_id: a.clone(), scopes: vec!["openid".into()], granted_at: t0() };
    store.upsert_consent(consent.clone()).await.unwrap();
    let wider =
        Consent { scopes: vec!["openid".into(), "email".into()], granted_at: t0() + Duration::days(1), ..consent };
    store.upsert_consent(wider.clone()).await.unwrap();
    let found = store.find_consent(account, &a).await.unwrap().unwrap();
    assert_eq!(found, Consent { granted_at: micros(wider.granted_at), ..wider });
    store
        .upsert_consent(Consent { account_id: account, client_id: b.clone(), scopes: vec![], granted_at: t0() })
        .await
        .unwrap();
    let listed: Vec<ClientId> =
        store.list_consents_of(account).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(listed, [b.clone(), a.clone()], "by client id");
    assert!(store.delete_consent(account, &a).await.unwrap());
    assert!(!store.delete_consent(account, &a).await.unwrap());
    assert_eq!(store.list_consents_of(account).await.unwrap().len(), 1);
}

async fn signing_key_rotation(store: &SeaStore) {
    store.insert_key(signing_key("k1", "RS256", KeyState::Next, t0())).await.unwrap();
    store.insert_key(signing_key("k2", "RS256", KeyState::Next, t0() + Duration::days(1))).await.unwrap();
    store.insert_key(signing_key("e1", "ES256", KeyState::Next, t0() + Duration::days(2))).await.unwrap();
    assert!(matches!(
        store.insert_key(signing_key("k1", "RS256", KeyState::Next, t0())).await,
        Err(StoreError::Conflict(f)) if f == "kid"
    ));
    let kids = |keys: Vec<SigningKey>| keys.into_iter().map(|k| (k.kid, k.state)).collect::<Vec<_>>();
    assert_eq!(
        kids(store.list_keys().await.unwrap()),
        [("e1".into(), KeyState::Next), ("k2".into(), KeyState::Next), ("k1".into(), KeyState::Next)]
    );
    let k1 = store.list_keys().await.unwrap().pop().unwrap();
    assert_eq!(k1.encrypted_private_key, [0, 1, 2, 250, 251, 255]);
    assert_eq!(k1.public_jwk["kid"], "k1");

    let a1 = t0() + Duration::days(3);
    store.activate_key("k1", a1).await.unwrap();
    store.activate_key("e1", a1).await.unwrap();
    let a2 = t0() + Duration::days(4);
    store.activate_key("k2", a2).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    let k = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!((k("k2").state, k("k2").activated_at), (KeyState::Active, Some(micros(a2))));
    assert_eq!((k("k1").state, k("k1").retired_at), (KeyState::Retired, Some(micros(a2))));
    assert_eq!(k("e1").state, KeyState::Active, "another algorithm's active key is left alone");
    assert!(matches!(store.activate_key("nope", a2).await, Err(StoreError::NotFound(_))));

    assert_eq!(store.delete_retired_keys(a2).await.unwrap(), 0, "retired at a2, not before");
    assert_eq!(store.delete_retired_keys(a2 + Duration::seconds(1)).await.unwrap(), 1);
    assert_eq!(store.list_keys().await.unwrap().len(), 2);
}

async fn audit_log(store: &SeaStore) {
    let alice = AccountId::new();
    let admin = AccountId::new();
    for (i, (event_type, account, outcome)) in [
        ("login.success", Some(alice), AuditOutcome::Success),
        ("login.failure", Some(alice), AuditOutcome::Failure),
        ("account.disabled", Some(alice), AuditOutcome::Success),
        ("client.created", None, AuditOutcome::Success),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .insert_audit_event(AuditEvent {
                id: uuid::Uuid::now_v7(),
                at: t0() + Duration::minutes(i as i64),
                event_type: event_type.to_owned(),
                account_id: account,
                actor_id: (event_type == "account.disabled").then_some(admin),
                client_id: Some(ClientId("rp".into())),
                ip: Some("192.0.2.1".into()),
                user_agent: None,
                outcome,
                detail: serde_json::json!({ "n": i }),
            })
            .await
            .unwrap();
    }
    let types = |events: Vec<AuditEvent>| events.into_iter().map(|e| e.event_type).collect::<Vec<_>>();
    let all = AuditQuery::default();
    assert_eq!(
        types(store.list_audit_events(&all).await.unwrap()),
        ["client.created", "account.disabled", "login.failure", "login.success"],
        "newest first"
    );
    let of_alice = AuditQuery { account_id: Some(alice), limit: 2, ..AuditQuery::default() };
    assert_eq!(types(store.list_audit_events(&of_alice).await.unwrap()), ["account.disabled", "login.failure"]);
    assert_eq!(store.count_audit_events(&of_alice).await.unwrap(), 3, "count ignores the page");
    let failures = AuditQuery { event_type: Some("login.failure".into()), ..AuditQuery::default() };
    let events = store.list_audit_events(&failures).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, AuditOutcome::Failure);
    assert_eq!(events[0].detail, serde_json::json!({ "n": 1 }));
    assert_eq!(events[0].at, micros(t0() + Duration::minutes(1)));
    let window = AuditQuery {
        from: Some(t0() + Duration::minutes(1)),
        to: Some(t0() + Duration::minutes(3)),
        ..AuditQuery::default()
    };
    assert_eq!(store.count_audit_events(&window).await.unwrap(), 2);
    let by_client = AuditQuery { client_id: Some(ClientId("rp".into())), offset: 3, ..AuditQuery::default() };
    assert_eq!(types(store.list_audit_events(&by_client).await.unwrap()), ["login.success"]);
}

async fn throttle_counts(store: &SeaStore) {
    assert!(store.find_throttle("account:x").await.unwrap().is_none());
    let first = store.increment_throttle("account:x", t0()).await.unwrap();
    assert_eq!((first.failures, first.last_failure_at, first.locked_until), (1, micros(t0()), None));
    let later = t0() + Duration::seconds(10);
    let second = store.increment_throttle("account:x", later).await.unwrap();
    assert_eq!((second.failures, second.last_failure_at), (2, micros(later)));
    let until = later + Duration::minutes(15);
    store.set_throttle_lock("account:x", Some(until)).await.unwrap();
    assert_eq!(store.find_throttle("account:x").await.unwrap().unwrap().locked_until, Some(micros(until)));
    let third = store.increment_throttle("account:x", later).await.unwrap();
    assert_eq!((third.failures, third.locked_until), (3, Some(micros(until))), "a lock survives increments");
    store.set_throttle_lock("account:x", None).await.unwrap();
    assert!(store.find_throttle("account:x").await.unwrap().unwrap().locked_until.is_none());
    store.clear_throttle("account:x").await.unwrap();
    assert!(store.find_throttle("account:x").await.unwrap().is_none());
    store.clear_throttle("account:x").await.unwrap();
}

/// 100 concurrent failures on one key: each caller sees its own count, 1..=100 exactly once.
async fn throttle_increments_are_atomic(store: &SeaStore) {
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.increment_throttle("ip:192.0.2.7", t0()).await.unwrap().failures })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        assert!(counts.insert(task.await.unwrap()), "a count was seen twice");
    }
    assert_eq!(counts, (1..=100).collect::<BTreeSet<i32>>());
}

/// An expired lock is claimed by exactly one of 50 concurrent callers; an unexpired or missing one by none.
async fn throttle_claims_are_exclusive(store: &SeaStore) {
    let key = "login:claimed";
    store.increment_throttle(key, t0()).await.unwrap();
    assert!(!store.claim_throttle(key, t0(), t0() + Duration::seconds(4)).await.unwrap(), "no lock, nothing to claim");
    store.set_throttle_lock(key, Some(t0() + Duration::seconds(2))).await.unwrap();
    assert!(!store.claim_throttle(key, t0() + Duration::seconds(1), t0() + Duration::seconds(5)).await.unwrap());
    let now = t0() + Duration::seconds(3);
    let until = now + Duration::seconds(8);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_throttle(key, now, until).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(store.find_throttle(key).await.unwrap().unwrap().locked_until, Some(micros(until)));
    assert!(!store.claim_throttle("login:nobody", now, until).await.unwrap());
}

/// 20 concurrent consumers of one code and of one refresh token: exactly one `Now` each.
async fn consumption_is_atomic(store: &SeaStore) {
    let (account, client_id) = account_and_client(store, "racer", "rp-race").await;
    let c = code(&client_id, account, TokenFamilyId::new());
    let r = refresh(&client_id, account, TokenFamilyId::new(), None);
    store.insert_code(c.clone()).await.unwrap();
    store.insert_refresh_token(r.clone()).await.unwrap();

    let codes: Vec<_> = (0..20)
        .map(|i| {
            let (store, hash) = (store.clone(), c.code_hash.clone());
            tokio::spawn(async move { store.consume_code(&hash, t0() + Duration::milliseconds(i)).await.unwrap() })
        })
        .collect();
    let tokens: Vec<_> = (0..20)
        .map(|i| {
            let (store, hash) = (store.clone(), r.token_hash.clone());
            tokio::spawn(
                async move { store.consume_refresh_token(&hash, t0() + Duration::milliseconds(i)).await.unwrap() },
            )
        })
        .collect();
    let (mut code_wins, mut token_wins) = (0, 0);
    for task in codes {
        match task.await.unwrap() {
            Consumed::Now(_) => code_wins += 1,
            Consumed::Already(_) => {}
            Consumed::Missing => panic!("the code exists"),
        }
    }
    for task in tokens {
        match task.await.unwrap() {
            Consumed::Now(_) => token_wins += 1,
            Consumed::Already(_) => {}
            Consumed::Missing => panic!("the token exists"),
        }
    }
    assert_eq!((code_wins, token_wins), (1, 1));
}

/// Deleting an account takes its sessions, codes, tokens, consents and role grants; deleting a
/// client takes its codes, tokens and consents, and leaves the account's other rows.
async fn deletes_cascade(store: &SeaStore) {
    let (account, client_id) = account_and_client(store, "niaj", "rp-cascade").await;
    let other_client = ClientId("rp-keep".to_owned());
    store.insert_client(client("rp-keep")).await.unwrap();
    let admin = store.find_role_by_name("admin").await.unwrap().unwrap();
    store.grant_role(account, admin.id).await.unwrap();
    let s = session(account, t0(), false);
    store.insert_session(s.clone()).await.unwrap();

    let mut hashes = Vec::new();
    for cid in [&client_id, &other_client] {
        let c = code(cid, account, TokenFamilyId::new());
        let r = refresh(cid, account, TokenFamilyId::new(), None);
        hashes.push((c.code_hash.clone(), r.token_hash.clone()));
        store.insert_code(c).await.unwrap();
        store.insert_refresh_token(r).await.unwrap();
        store.insert_access_token(access(&format!("jti-{}", cid.0), cid, Some(account), None)).await.unwrap();
        store
            .upsert_consent(Consent { account_id: account, client_id: cid.clone(), scopes: vec![], granted_at: t0() })
            .await
            .unwrap();
    }

    assert!(store.delete_client(&client_id).await.unwrap());
    let (gone_code, gone_refresh) = &hashes[0];
    assert_eq!(store.consume_code(gone_code, t0()).await.unwrap(), Consumed::Missing);
    assert!(store.find_refresh_token(gone_refresh).await.unwrap().is_none());
    assert!(store.find_access_token("jti-rp-cascade").await.unwrap().is_none());
    assert!(store.find_consent(account, &client_id).await.unwrap().is_none());
    assert!(store.find_access_token("jti-rp-keep").await.unwrap().is_some(), "other client's rows stay");
    assert!(store.find_session(s.id).await.unwrap().is_some(), "sessions belong to the account");

    assert!(store.delete_account(account).await.unwrap());
    let (kept_code, kept_refresh) = &hashes[1];
    assert_eq!(store.consume_code(kept_code, t0()).await.unwrap(), Consumed::Missing);
    assert!(store.find_refresh_token(kept_refresh).await.unwrap().is_none());
    assert!(store.find_access_token("jti-rp-keep").await.unwrap().is_none());
    assert!(store.list_consents_of(account).await.unwrap().is_empty());
    assert!(store.find_session(s.id).await.unwrap().is_none());
    assert!(store.roles_of(account).await.unwrap().is_empty());
    assert!(store.find_client(&other_client).await.unwrap().is_some(), "clients outlive accounts");
    assert!(store.find_role_by_name("admin").await.unwrap().is_some());
}

/// Timestamps come back exactly as stored: whole microseconds, UTC, on both databases.
async fn timestamps_round_trip(store: &SeaStore) {
    let samples = [
        DateTime::from_timestamp(0, 0).unwrap(),
        DateTime::from_timestamp(1_700_000_000, 1_000).unwrap(), // one microsecond
        DateTime::from_timestamp(1_700_000_000, 999_999_999).unwrap(), // truncated, not rounded
        DateTime::from_timestamp(4_102_444_800, 500_000_000).unwrap(), // 2100-01-01
        Utc::now(),
    ];
    for (i, at) in samples.into_iter().enumerate() {
        let key = format!("ts:{i}");
        let state = store.increment_throttle(&key, at).await.unwrap();
        let stored = store.find_throttle(&key).await.unwrap().unwrap();
        assert_eq!(stored.last_failure_at, micros(at), "{at}");
        assert_eq!(state.last_failure_at, stored.last_failure_at);
        assert_eq!(stored.last_failure_at.timestamp_subsec_nanos() % 1_000, 0);
    }
    // Ordering comparisons agree with time order across fractional-second formats.
    let new = new_account("olivia", "olivia@example.com");
    let account = new.id;
    store.insert_account(new, t0()).await.unwrap();
    let base = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    for ns in [0u32, 500_000_000, 120_000, 999_999_000] {
        let mut s = session(account, base, false);
        s.expires_at = base + Duration::nanoseconds(i64::from(ns));
        store.insert_session(s).await.unwrap();
    }
    assert_eq!(store.count_active_sessions(base + Duration::microseconds(120)).await.unwrap(), 2);
    assert_eq!(store.count_active_sessions(base).await.unwrap(), 3);
}

async fn migrate_again_is_a_no_op(store: &SeaStore) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let admins = store.list_roles().await.unwrap().into_iter().filter(|r| r.name == "admin").count();
    assert_eq!(admins, 1, "the seed ran once");
    store.ping().await.unwrap();
}

async fn account_and_client(store: &SeaStore, username: &str, client_id: &str) -> (AccountId, ClientId) {
    let new = new_account(username, &format!("{username}@example.com"));
    let id = new.id;
    store.insert_account(new, t0()).await.unwrap();
    let c = store.insert_client(client(client_id)).await.unwrap();
    (id, c.id)
}

// ---------------------------------------------------------------------------------------------
// Both backends
// ---------------------------------------------------------------------------------------------

latchkey_store::both_databases!(pool = 8;
    accounts_round_trip_and_update,
    accounts_list_and_search,
    account_uniqueness_conflicts,
    roles_grant_and_revoke,
    accounts_are_created_with_their_roles_or_not_at_all,
    clients_crud,
    sessions_lifecycle,
    codes_are_consumed_once,
    refresh_and_access_tokens,
    consents_upsert_and_list,
    signing_key_rotation,
    audit_log,
    throttle_counts,
    throttle_increments_are_atomic,
    throttle_claims_are_exclusive,
    consumption_is_atomic,
    deletes_cascade,
    timestamps_round_trip,
    migrate_again_is_a_no_op,
);

// ---------------------------------------------------------------------------------------------
// One backend
// ---------------------------------------------------------------------------------------------

/// A file database with a pool of several connections: WAL on (its `-wal` file appears), the
/// parent directory created, and consumption and throttling still atomic across connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_pool_is_wal_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("latchkey.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SeaStore::connect(&url, 6).await.unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    store.migrate().await.unwrap();
    assert!(path.exists(), "the parent directory was created");
    assert!(dir.path().join("nested").join("latchkey.db-wal").exists(), "journal_mode=WAL");

    consumption_is_atomic(&store).await;
    throttle_increments_are_atomic(&store).await;
    deletes_cascade(&store).await;
    let stats = store.pool_stats();
    assert!(stats.size >= 1 && stats.size <= 6 && stats.idle <= stats.size, "{stats:?}");

    // A second process's view: another pool on the same file sees the same rows.
    let other = SeaStore::connect(&url, 2).await.unwrap();
    other.migrate().await.unwrap();
    assert_eq!(other.find_throttle("ip:192.0.2.7").await.unwrap().unwrap().failures, 100);
    other.close().await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_memory_store_reports_itself() {
    let store = sqlite_memory().await;
    assert_eq!(store.backend_name(), "sqlite");
    store.ping().await.unwrap();
    assert_eq!(store.pool_stats().size, 1);
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable_quickly() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens, the connection is refused.
    let err = SeaStore::connect("postgres://postgres:secret@127.0.0.1:1/latchkey", 2).await.unwrap_err();
    assert!(matches!(&err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"), "the password is redacted: {err}");
    assert!(started.elapsed() < StdDuration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = SeaStore::connect("mysql://root:pw@127.0.0.1/db", 1).await.unwrap_err();
    assert!(matches!(&err, StoreError::Internal(m) if m.contains("unsupported") && !m.contains("pw@")), "{err:?}");
}

/// Two nodes starting together on a fresh database: both migrations succeed, one applies them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_migrations_both_succeed() {
    let Some(pg) = TempPostgres::create().await else { return };
    let a = SeaStore::connect(&pg.url, 2).await.unwrap();
    let b = SeaStore::connect(&pg.url, 2).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    assert_eq!(a.list_roles().await.unwrap().len(), 1, "the admin role was seeded once");
    let stats = a.pool_stats();
    assert!(stats.size >= 1 && stats.size <= 2, "{stats:?}");
    a.close().await.unwrap();
    b.close().await.unwrap();
    pg.drop_db().await;
}
