//! The first-administrator setup tokens and the role-membership count, on SQLite and PostgreSQL:
//! single use under concurrency, expiry, and clear states for a used, expired or unknown token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use latchkey_core::model::{AccountId, NewAccount};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::{AccountStore as _, RoleStore as _};
use latchkey_store::{SeaStore, SetupTokenState};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap()
}

async fn setup_tokens_are_single_use_and_expire(store: &SeaStore) {
    let hash = TokenHash::of("token-one");
    store.insert_setup_token(&hash, t0(), t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(store.find_setup_token(&hash, t0()).await.unwrap(), SetupTokenState::Valid);
    assert_eq!(store.find_setup_token(&TokenHash::of("other"), t0()).await.unwrap(), SetupTokenState::Missing);
    assert_eq!(store.consume_setup_token(&TokenHash::of("other"), t0()).await.unwrap(), SetupTokenState::Missing);

    // Many concurrent consumers: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let hash = hash.clone();
        tasks.push(tokio::spawn(async move { store.consume_setup_token(&hash, t0()).await.unwrap() }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            SetupTokenState::Valid => won += 1,
            other => assert_eq!(other, SetupTokenState::Used),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.find_setup_token(&hash, t0()).await.unwrap(), SetupTokenState::Used);

    let late = TokenHash::of("token-two");
    store.insert_setup_token(&late, t0(), t0() + Duration::hours(1)).await.unwrap();
    let after = t0() + Duration::hours(1);
    assert_eq!(store.find_setup_token(&late, after).await.unwrap(), SetupTokenState::Expired);
    assert_eq!(store.consume_setup_token(&late, after).await.unwrap(), SetupTokenState::Expired);
    assert_eq!(store.purge_setup_tokens(after + Duration::seconds(1)).await.unwrap(), 2);
    assert_eq!(store.find_setup_token(&late, after).await.unwrap(), SetupTokenState::Missing);
}

fn account_template() -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        username: String::new(),
        email: String::new(),
        email_verified: false,
        password_hash: None,
        display_name: None,
    }
}

async fn role_members_are_counted(store: &SeaStore) {
    assert_eq!(store.count_role_members("admin").await.unwrap(), 0);
    assert_eq!(store.count_role_members("no-such-role").await.unwrap(), 0);
    let account = NewAccount {
        id: AccountId::new(),
        username: "root".into(),
        email: "root@example.com".into(),
        ..account_template()
    };
    let account = store.insert_account(account, t0()).await.unwrap();
    let admin = store.find_role_by_name("admin").await.unwrap().expect("the built-in admin role");
    store.grant_role(account.id, admin.id).await.unwrap();
    assert_eq!(store.count_role_members("admin").await.unwrap(), 1);

    // Roles of a page of accounts in one call: sorted names, accounts without roles absent.
    let other = NewAccount {
        id: AccountId::new(),
        username: "plain".into(),
        email: "plain@example.com".into(),
        ..account_template()
    };
    let other = store.insert_account(other, t0()).await.unwrap();
    let editors = store.insert_role("editors", None).await.unwrap();
    store.grant_role(account.id, editors.id).await.unwrap();
    let roles = store.roles_of_accounts(&[account.id, other.id]).await.unwrap();
    assert_eq!(roles.get(&account.id).unwrap(), &["admin".to_owned(), "editors".to_owned()]);
    assert!(!roles.contains_key(&other.id));
    assert!(store.roles_of_accounts(&[]).await.unwrap().is_empty());
    store.revoke_role(account.id, editors.id).await.unwrap();
    store.revoke_role(account.id, admin.id).await.unwrap();
    assert_eq!(store.count_role_members("admin").await.unwrap(), 0);
}

latchkey_store::both_databases!(pool = 8; setup_tokens_are_single_use_and_expire, role_members_are_counted);
