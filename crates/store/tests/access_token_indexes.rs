//! Migration m20261207_000001: `access_tokens.account_id` and `family_id` are indexed only where
//! they are set (null for every `client_credentials` token), on SQLite and PostgreSQL:
//! - after the migrations, both indexes are partial, and a lookup by `= value` (what the store
//!   and the foreign-key cascades do) still uses them;
//! - rolling the migration back gives the full indexes again, and applying it once more works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_migration::Migrator;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sea_orm_migration::MigratorTrait as _;

const INDEXES: [(&str, &str); 2] =
    [("ix_access_tokens_account", "account_id"), ("ix_access_tokens_family", "family_id")];

/// Whether the index `name` has a `WHERE` clause.
async fn is_partial(db: &DatabaseConnection, name: &str) -> bool {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => "SELECT \"partial\" AS p FROM pragma_index_list('access_tokens') WHERE name = $1",
        _ => {
            "SELECT (indpred IS NOT NULL)::int AS p FROM pg_index JOIN pg_class ON pg_class.oid = indexrelid WHERE relname = $1"
        }
    };
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()])).await.unwrap();
    let row = row.unwrap_or_else(|| panic!("no index {name}"));
    row.try_get::<i32>("", "p").unwrap() == 1
}

/// The query plan of a lookup by `column = value`, as one string.
async fn plan(db: &DatabaseConnection, column: &str) -> String {
    let backend = db.get_database_backend();
    // One transaction: the setting below and the EXPLAIN must run on the same pooled connection.
    let txn = db.begin().await.unwrap();
    let (sql, field) = match backend {
        DbBackend::Sqlite => {
            (format!("EXPLAIN QUERY PLAN SELECT jti FROM access_tokens WHERE {column} = x'00'"), "detail")
        }
        _ => {
            // An empty table is cheaper to scan than to look up: ask for the index if it can be used.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
            let id = "00000000-0000-0000-0000-000000000000";
            (format!("EXPLAIN SELECT jti FROM access_tokens WHERE {column} = '{id}'::uuid"), "QUERY PLAN")
        }
    };
    let rows = txn.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    txn.rollback().await.unwrap();
    rows.iter().map(|r| r.try_get::<String>("", field).unwrap()).collect::<Vec<_>>().join("\n")
}

async fn check(db: &DatabaseConnection) {
    Migrator::up(db, None).await.unwrap();
    for (name, column) in INDEXES {
        assert!(is_partial(db, name).await, "{name} is partial after the migrations");
        let plan = plan(db, column).await;
        assert!(plan.contains(name), "a lookup by {column} uses {name}: {plan}");
    }

    Migrator::down(db, Some(1)).await.unwrap();
    for (name, _) in INDEXES {
        assert!(!is_partial(db, name).await, "{name} is a full index again after rolling back");
    }
    Migrator::up(db, None).await.unwrap();
    for (name, _) in INDEXES {
        assert!(is_partial(db, name).await, "{name} is partial after applying the migration again");
    }
}

#[tokio::test]
async fn access_token_indexes_are_partial_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("latchkey.db").display());
    let db = Database::connect(&url).await.unwrap();
    check(&db).await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn access_token_indexes_are_partial_on_postgres() {
    let Some(pg) = latchkey_store::testing::TempPostgres::create().await else { return };
    let db = Database::connect(&pg.url).await.unwrap();
    check(&db).await;
    db.close().await.unwrap();
    pg.drop_db().await;
}
