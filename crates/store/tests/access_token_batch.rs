//! `GrantStore::insert_access_token` under concurrency, on SQLite (in memory and a file, whose
//! writes go through one connection) and PostgreSQL. Concurrent inserts are written together
//! (`latchkey_store`'s group commit); what must hold whatever the batching:
//! - every caller told `Ok` finds its row stored, exactly as given;
//! - a bad row (unknown client: a foreign-key violation; a `jti` already taken) fails alone, with
//!   its own error, and takes none of the good rows of its batch down with it;
//! - callers that go away while waiting (a client disconnecting) do not lose anyone else's row;
//! - the batches come in few sizes, so the writing connections cache few statement texts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use latchkey_core::StoreError;
use latchkey_core::model::*;
use latchkey_core::secret::TokenHash;
use latchkey_core::store::*;
use latchkey_store::SeaStore;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        secret_hash: Some(TokenHash::of("client-secret")),
        name: format!("Client {id}"),
        redirect_uris: vec!["https://rp.example/cb".to_owned()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["api:read".to_owned()],
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

fn record(jti: String, client: &str, n: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        jti,
        client_id: ClientId(client.to_owned()),
        account_id: None,
        family_id: None,
        scopes: vec!["api:read".to_owned(), format!("n:{n}")],
        created_at: t0() + Duration::seconds(n),
        expires_at: t0() + Duration::seconds(600 + n),
        revoked_at: None,
    }
}

/// Inserts every record at once, each from its own task; the answers in the same order.
async fn insert_all(store: &SeaStore, records: &[AccessTokenRecord]) -> Vec<Result<(), StoreError>> {
    let tasks: Vec<_> = records
        .iter()
        .cloned()
        .map(|r| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_access_token(r).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn concurrent_inserts_are_all_stored(store: &SeaStore) {
    store.insert_client(client("svc")).await.unwrap();
    let records: Vec<_> = (0..600).map(|n| record(format!("jti-{n}"), "svc", n)).collect();
    for answer in insert_all(store, &records).await {
        answer.unwrap();
    }
    for r in &records {
        assert_eq!(store.find_access_token(&r.jti).await.unwrap().as_ref(), Some(r), "{} stored as given", r.jti);
    }
}

/// Every row count of a multi-row `INSERT` is its own statement text, and each connection caches
/// the statements it prepared (on SQLite, compiled programs in our memory): batches of a power of
/// two of rows keep that to one text per power of two, whatever the concurrency.
async fn batches_prepare_few_statement_texts(store: &SeaStore) {
    store.insert_client(client("svc")).await.unwrap();
    store.clear_cached_statements().await.unwrap(); // the migrations' and the client's
    let mut n = 0;
    for concurrency in 1..=80 {
        let records: Vec<_> = (n..n + concurrency).map(|i| record(format!("jti-{i}"), "svc", i)).collect();
        n += concurrency;
        for answer in insert_all(store, &records).await {
            answer.unwrap();
        }
    }
    // One row, and 2, 4, ..., 64 rows (80 callers at once make batches of at most 64).
    let cached = store.most_cached_statements().await.unwrap();
    assert!(cached <= 7, "{cached} statements cached after the inserts on one connection");
}

async fn a_bad_row_fails_alone(store: &SeaStore) {
    store.insert_client(client("svc")).await.unwrap();
    store.insert_access_token(record("taken".to_owned(), "svc", 0)).await.unwrap();
    for round in 0..5 {
        // Every seventh row names a client that does not exist; one reuses a taken jti.
        let records: Vec<_> = (0..140)
            .map(|n| {
                let jti = if n == 70 { "taken".to_owned() } else { format!("r{round}-{n}") };
                record(jti, if n % 7 == 3 { "no-such-client" } else { "svc" }, n)
            })
            .collect();
        let answers = insert_all(store, &records).await;
        for (n, (r, answer)) in records.iter().zip(answers).enumerate() {
            match (n, answer) {
                (70, Err(StoreError::Conflict(field))) => assert_eq!(field, "jti"),
                (n, Err(StoreError::NotFound(_))) if n % 7 == 3 => {
                    assert_eq!(store.find_access_token(&r.jti).await.unwrap(), None, "{} not stored", r.jti);
                }
                (n, Ok(())) if n != 70 && n % 7 != 3 => {
                    assert_eq!(store.find_access_token(&r.jti).await.unwrap().as_ref(), Some(r), "{} stored", r.jti);
                }
                (n, other) => panic!("round {round}, row {n}: unexpected answer {other:?}"),
            }
        }
    }
    let taken = store.find_access_token("taken").await.unwrap().unwrap();
    assert_eq!(taken.scopes, ["api:read", "n:0"], "the first row with that jti is untouched");
}

async fn callers_that_go_away_lose_no_one_elses_row(store: &SeaStore) {
    store.insert_client(client("svc")).await.unwrap();
    for round in 0..5 {
        let records: Vec<_> = (0..200).map(|n| record(format!("c{round}-{n}"), "svc", n)).collect();
        let tasks: Vec<_> = records
            .iter()
            .cloned()
            .map(|r| {
                let store = store.clone();
                tokio::spawn(async move { store.insert_access_token(r).await })
            })
            .collect();
        // Every other caller disconnects while its insert waits or runs.
        for task in tasks.iter().step_by(2) {
            task.abort();
        }
        for (n, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok(answer) => answer.unwrap(),
                Err(e) => assert!(e.is_cancelled() && n % 2 == 0, "row {n}: {e}"),
            }
        }
        for r in records.iter().skip(1).step_by(2) {
            assert_eq!(store.find_access_token(&r.jti).await.unwrap().as_ref(), Some(r), "{} stored", r.jti);
        }
    }
}

latchkey_store::both_databases!(pool = 8;
    concurrent_inserts_are_all_stored,
    batches_prepare_few_statement_texts,
    a_bad_row_fails_alone,
    callers_that_go_away_lose_no_one_elses_row,
);

/// A SQLite file: readers and the one writing connection are separate pools there.
mod sqlite_file {
    async fn file_store() -> (tempfile::TempDir, latchkey_store::SeaStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("latchkey.db").display());
        let store = latchkey_store::SeaStore::connect(&url, 8).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_are_all_stored() {
        let (_dir, store) = file_store().await;
        super::concurrent_inserts_are_all_stored(&store).await;
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_prepare_few_statement_texts() {
        let (_dir, store) = file_store().await;
        super::batches_prepare_few_statement_texts(&store).await;
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_row_fails_alone() {
        let (_dir, store) = file_store().await;
        super::a_bad_row_fails_alone(&store).await;
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_that_go_away_lose_no_one_elses_row() {
        let (_dir, store) = file_store().await;
        super::callers_that_go_away_lose_no_one_elses_row(&store).await;
        store.close().await.unwrap();
    }
}
