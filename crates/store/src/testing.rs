//! Test support (feature `testing`): a migrated in-memory SQLite store, and throw-away PostgreSQL
//! databases, for this crate's tests and for the server's and end-to-end tests.

use sea_orm::sqlx::postgres::PgConnectOptions;
// The database names interpolated into SQL are generated here (`latchkey_test_<hex>`), never taken from input.
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, PgConnection};
use std::str::FromStr as _;
use std::time::Duration;

use crate::SeaStore;

/// The server PostgreSQL tests create their databases on, unless `LATCHKEY_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated store on a private in-memory SQLite database (one connection).
///
/// # Panics
/// If SQLite cannot be opened or migrated: a test cannot go on without it.
#[allow(clippy::expect_used)]
pub async fn sqlite_memory() -> SeaStore {
    let store = SeaStore::connect("sqlite::memory:", 1).await.expect("open in-memory SQLite");
    store.migrate().await.expect("migrate in-memory SQLite");
    store
}

/// A fresh, empty PostgreSQL database `latchkey_test_<random>`, dropped (with its connections
/// terminated) by [`TempPostgres::drop_db`] or, failing that, when the value is dropped.
#[derive(Debug)]
pub struct TempPostgres {
    /// URL of the new database, for [`SeaStore::connect`] or a server under test.
    pub url: String,
    admin_url: String,
    name: String,
    dropped: bool,
}

impl TempPostgres {
    /// Creates the database on the server of `LATCHKEY_TEST_POSTGRES_URL` (default
    /// [`DEFAULT_POSTGRES_URL`]). When the server cannot be reached: with `CI=true` this panics
    /// (in CI a missing database is a failure, never a silent skip); otherwise it prints a loud
    /// warning to stderr and returns `None`, so the caller skips its PostgreSQL half.
    ///
    /// # Panics
    /// In CI when PostgreSQL is unreachable, or whenever the server answers but refuses to create the database.
    #[allow(clippy::panic)]
    pub async fn create() -> Option<TempPostgres> {
        let admin_url = std::env::var("LATCHKEY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut conn = match admin_connection(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => {
                let shown = crate::redact_database_url(&admin_url);
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL is required in CI but {shown} cannot be reached: {e}");
                }
                eprintln!(
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !!! SKIPPING PostgreSQL tests: cannot reach {shown}: {e}\n\
                     !!! Start PostgreSQL or set LATCHKEY_TEST_POSTGRES_URL to run them.\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
                return None;
            }
        };
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(e) = conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await {
            panic!("PostgreSQL answered but refused CREATE DATABASE {name}: {e}");
        }
        let _ = conn.close().await;
        let options = match PgConnectOptions::from_str(&admin_url) {
            Ok(o) => o.database(&name),
            Err(e) => panic!("invalid LATCHKEY_TEST_POSTGRES_URL: {e}"),
        };
        let url = options.to_url_lossy().to_string();
        Some(TempPostgres { url, admin_url, name, dropped: false })
    }

    /// The database's name (`latchkey_test_…`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, terminating any connection still open on it.
    pub async fn drop_db(mut self) {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await;
    }
}

impl Drop for TempPostgres {
    /// A synchronous drop cannot await, and may run inside a runtime that must not block: drop the
    /// database from a short-lived thread with its own runtime.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let worker =
            std::thread::spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(drop_database(&admin_url, &name)),
                Err(e) => eprintln!("cannot drop test database {name}: {e}"),
            });
        let _ = worker.join();
    }
}

async fn admin_connection(url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?.disable_statement_logging();
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("timed out after 5 s".to_owned()),
    }
}

/// `DROP DATABASE .. WITH (FORCE)` (PostgreSQL 13+) terminates the connections a test left open.
async fn drop_database(admin_url: &str, name: &str) {
    match admin_connection(admin_url).await {
        Ok(mut conn) => {
            if let Err(e) = conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await {
                eprintln!("cannot drop test database {name}: {e}");
            }
            let _ = conn.close().await;
        }
        Err(e) => eprintln!("cannot drop test database {name}: {e}"),
    }
}

/// Runs each named `async fn(&SeaStore)` scenario of a test file as two tests: `sqlite::NAME` on a
/// migrated in-memory SQLite store and `postgres::NAME` on a fresh, migrated PostgreSQL database
/// with a pool of `pool` connections (skipped as [`TempPostgres::create`] says when no server
/// answers outside CI), closed and dropped afterwards.
///
/// `latchkey_store::both_databases!(pool = 8; scenario_a, scenario_b);`
#[macro_export]
macro_rules! both_databases {
    (pool = $pool:expr; $($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let store = $crate::testing::sqlite_memory().await;
                    super::$scenario(&store).await;
                    store.close().await.unwrap();
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(pg) = $crate::testing::TempPostgres::create().await else { return };
                    let store = $crate::SeaStore::connect(&pg.url, $pool).await.unwrap();
                    store.migrate().await.unwrap();
                    assert_eq!(store.backend_name(), "postgres");
                    super::$scenario(&store).await;
                    store.close().await.unwrap();
                    pg.drop_db().await;
                }
            )*
        }
    };
}
