//! latchkey-store: Latchkey's persistence, on SQLite or PostgreSQL through sea-orm.
//!
//! It owns the connection pool, running the migrations of `latchkey-migration`, the sea-orm
//! entities (private to this crate) and the implementations of every storage trait of
//! `latchkey_core::store`. Only `latchkey_core` types cross its boundary. It must never know
//! HTTP, nor make a protocol decision: whether a consumed code may still be exchanged, or an
//! expired session honoured, is for `latchkey-core` to say; this crate only stores, finds and
//! atomically consumes.
//!
//! Timestamps are stored as UTC `timestamp with time zone` (RFC 3339 text on SQLite), truncated to
//! whole microseconds on write, because PostgreSQL keeps no more: a value read back is then
//! identical on both databases (see [`truncate`]).

mod accounts;
mod audit;
mod batch;
mod bearer;
mod clients;
mod entity;
mod error;
mod grants;
mod keys;
mod sessions;
mod setup;
mod throttle;

#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use latchkey_core::StoreError;
use latchkey_migration::Migrator;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
use sea_orm::{
    ConnectionTrait as _, DatabaseConnection, DbErr, EntityTrait, Select, SqliteTransactionMode, TransactionOptions,
    TransactionTrait as _,
};
use sea_orm_migration::MigratorTrait as _;

use crate::error::DbResultExt as _;
pub use crate::setup::SetupTokenState;

/// How long to wait for a connection (new or pooled) before answering `Unavailable`: long enough
/// for a busy pool to free one, short enough that a dead database fails a request instead of hanging it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on another writer's lock before giving up (SQLITE_BUSY).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled PostgreSQL connection idle at least this long is pinged before it is handed out.
///
/// sqlx's default pings every connection on acquire, and sqlx 0.9 also pings it on release
/// (unconditionally), so a one-query request costs three round trips to the database instead of one
/// or two: measured on userinfo, three `sendto` per request. A connection that has just been used
/// and released (its release ping answered) is alive unless the server died in the last moment,
/// and then the query fails like any query in flight during a crash, its release ping fails and sqlx
/// discards it. A connection that sat idle (the database may have restarted meanwhile, or a proxy
/// dropped it) is still checked, so a restarted PostgreSQL costs no request an error.
const PG_PING_AFTER_IDLE: Duration = Duration::from_secs(1);
/// `pg_advisory_xact_lock` key serialising migrations across nodes: "Latchkey" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x4c61_7463_686b_6579;

/// The sqlx pool behind the sea-orm connection, kept for its statistics.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store: a cheap-to-clone handle on the connection pool, implementing every storage trait.
#[derive(Clone, Debug)]
pub struct SeaStore {
    /// Reads.
    db: DatabaseConnection,
    /// Every statement of a method that writes ([`SeaStore::writer`]).
    writer: DatabaseConnection,
    pool: Pool,
    /// On a SQLite file, the writer's own one-connection pool (see [`SeaStore::writer`]).
    writer_pool: Option<SqlitePool>,
    /// Recently read client records, shared by every clone of this store ([`SeaStore::cached_client`]).
    clients: std::sync::Arc<clients::ClientCache>,
    /// Access-token rows waiting for the writer, written together ([`batch`]).
    access_tokens: std::sync::Arc<batch::AccessTokenWrites>,
}

/// Connection pool gauges for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, busy or idle.
    pub size: u32,
    /// Open connections waiting for work.
    pub idle: u32,
}

impl SeaStore {
    fn new(db: DatabaseConnection, writer: DatabaseConnection, pool: Pool, writer_pool: Option<SqlitePool>) -> Self {
        SeaStore {
            access_tokens: std::sync::Arc::new(batch::AccessTokenWrites::new(writer.clone())),
            db,
            writer,
            pool,
            writer_pool,
            clients: Default::default(),
        }
    }

    /// Connects to `url`:
    /// - `sqlite://path/to/file.db?mode=rwc` (the parent directory is created) or `sqlite::memory:`;
    ///   every connection gets WAL, `foreign_keys=ON` (cascades depend on it), a 5 s busy timeout and
    ///   `synchronous=NORMAL` (durable with WAL except across power loss of the last transactions);
    ///   a file gets `max_connections - 1` reading connections (at least one) and one writing
    ///   connection (see [`SeaStore::writer`]);
    ///   an in-memory database always has exactly one connection, kept open, since it dies with its last one;
    /// - `postgres://` or `postgresql://`, with a pool of at most `max_connections`.
    ///
    /// A database that cannot be reached gives [`StoreError::Unavailable`] within a few seconds.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SeaStore, StoreError> {
        Self::connect_with_timeout(url, max_connections, ACQUIRE_TIMEOUT).await
    }

    /// [`SeaStore::connect`] with the time allowed to open or acquire a connection (the server's
    /// `database.connect_timeout`): past it a request fails with [`StoreError::Unavailable`]
    /// (a 503) instead of waiting on a database that is down.
    pub async fn connect_with_timeout(
        url: &str,
        max_connections: u32,
        acquire_timeout: std::time::Duration,
    ) -> Result<SeaStore, StoreError> {
        let max_connections = max_connections.max(1);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Internal(format!("invalid SQLite URL: {e}")))?
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .synchronous(SqliteSynchronous::Normal)
                .disable_statement_logging();
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            if !memory
                && let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create the directory {}: {e}", parent.display()))
                })?;
            }
            // No ping on acquire: a SQLite connection is a file handle in this process, with no
            // network or server that could have dropped it, and each ping is a hop to its thread.
            let pool_options = SqlitePoolOptions::new().acquire_timeout(acquire_timeout).test_before_acquire(false);
            if memory {
                let pool = pool_options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await
                    .map_err(|e| connect_error(url, e))?;
                let db = DatabaseConnection::from(pool.clone());
                return Ok(SeaStore::new(db.clone(), db, Pool::Sqlite(pool), None));
            }
            let readers = (max_connections - 1).max(1);
            let pool = pool_options.clone().max_connections(readers).connect_with(options.clone()).await;
            let pool = pool.map_err(|e| connect_error(url, e))?;
            let writer_pool = pool_options.max_connections(1).connect_with(options).await;
            let writer_pool = writer_pool.map_err(|e| connect_error(url, e))?;
            let writer = DatabaseConnection::from(writer_pool.clone());
            Ok(SeaStore::new(DatabaseConnection::from(pool.clone()), writer, Pool::Sqlite(pool), Some(writer_pool)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?
                .application_name("latchkey")
                .disable_statement_logging();
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PG_PING_AFTER_IDLE {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await
                .map_err(|e| connect_error(url, e))?;
            let db = DatabaseConnection::from(pool.clone());
            Ok(SeaStore::new(db.clone(), db, Pool::Postgres(pool), None))
        } else {
            Err(StoreError::Internal(format!(
                "unsupported database URL {}: use sqlite:// or postgres://",
                redact_database_url(url)
            )))
        }
    }

    /// Applies pending migrations, inside one transaction. On PostgreSQL the transaction first takes
    /// `pg_advisory_xact_lock`, so nodes starting together apply them once: the others wait, then
    /// find nothing pending. On SQLite the transaction is `BEGIN IMMEDIATE`, which does the same
    /// for processes sharing a file. Either way a failed migration leaves the schema as it was.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self.writer.begin_with_options(options).await.store()?;
        if matches!(self.pool, Pool::Postgres(_)) {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")).await.store()?;
        }
        Migrator::up(&txn, None).await.store()?;
        txn.commit().await.store()
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.store()
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        if let Some(writer) = &self.writer_pool {
            writer.close().await;
        }
        self.db.close().await.store()
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// The pool's current size and idle connections (on a SQLite file, readers and writer together).
    pub fn pool_stats(&self) -> PoolStats {
        let (mut size, mut idle) = match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
            Pool::Postgres(p) => (p.size(), p.num_idle()),
        };
        if let Some(w) = &self.writer_pool {
            size += w.size();
            idle += w.num_idle();
        }
        PoolStats { size, idle: u32::try_from(idle).unwrap_or(u32::MAX) }
    }

    /// The most prepared statements that any one connection of the writing pool keeps in its cache,
    /// for tests that bound how many distinct statement texts the writes produce ([`batch`]).
    #[cfg(feature = "testing")]
    pub async fn most_cached_statements(&self) -> Result<usize, StoreError> {
        Ok(match (&self.writer_pool, &self.pool) {
            (Some(pool), _) | (None, Pool::Sqlite(pool)) => {
                every_connection(pool).await?.iter().map(|c| c.cached_statements_size()).max()
            }
            (None, Pool::Postgres(pool)) => {
                every_connection(pool).await?.iter().map(|c| c.cached_statements_size()).max()
            }
        }
        .unwrap_or(0))
    }

    /// Empties the statement cache of every connection of the writing pool (see
    /// [`SeaStore::most_cached_statements`]).
    #[cfg(feature = "testing")]
    pub async fn clear_cached_statements(&self) -> Result<(), StoreError> {
        let failed = |e: sea_orm::sqlx::Error| StoreError::Internal(format!("cannot clear the statement cache: {e}"));
        match (&self.writer_pool, &self.pool) {
            (Some(pool), _) | (None, Pool::Sqlite(pool)) => {
                for mut c in every_connection(pool).await? {
                    c.clear_cached_statements().await.map_err(failed)?;
                }
            }
            (None, Pool::Postgres(pool)) => {
                for mut c in every_connection(pool).await? {
                    c.clear_cached_statements().await.map_err(failed)?;
                }
            }
        }
        Ok(())
    }

    /// Where reads go.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Where every statement of a method that writes goes (its reads too, so it reads what it wrote).
    ///
    /// On a SQLite file this is a pool of one connection. SQLite lets one connection write at a
    /// time; a connection that finds the write lock taken waits in SQLite's busy handler, which
    /// sleeps 1, 2, 5, 10, ... 100 ms between retries. Under concurrent writes (a token endpoint
    /// under load) most of the time went in those sleeps: p50 42 ms for `client_credentials`
    /// with 64 clients. With one writing connection, writers queue in the pool instead, each woken
    /// the moment the previous write is done. Readers never wait for the writer (WAL). On
    /// PostgreSQL and an in-memory SQLite, it is the same pool as [`SeaStore::db`].
    pub(crate) fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }
}

/// Every connection `pool` has, held at once: as many as it may open, so that none is left idle
/// (new ones are opened empty, and the pool waits for those in use to come back).
#[cfg(feature = "testing")]
async fn every_connection<DB: sea_orm::sqlx::Database>(
    pool: &sea_orm::sqlx::Pool<DB>,
) -> Result<Vec<sea_orm::sqlx::pool::PoolConnection<DB>>, StoreError> {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        let c = pool.acquire().await.map_err(|e| StoreError::Internal(format!("cannot acquire a connection: {e}")))?;
        held.push(c);
    }
    Ok(held)
}

/// A failed first connection is `Unavailable` (the usual cause: the database is down or the
/// address wrong), with the URL redacted because the message is logged.
fn connect_error(url: &str, err: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to {}: {err}", redact_database_url(url)))
}

/// Replaces the password of a database URL (in the user information or a `password=` query
/// parameter) with `[redacted]`, so the URL can be logged:
/// `postgres://user:pass@h/db` becomes `postgres://user:[redacted]@h/db`.
pub fn redact_database_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}{path}"),
                    None => base.to_owned(),
                },
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=[redacted]"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Every timestamp goes through here before it is written or compared: PostgreSQL keeps
/// microseconds, so truncating on both databases makes what is read back equal to what was stored.
pub(crate) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn truncate_opt(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(truncate)
}

/// JSON arrays of strings (scopes, redirect URIs) in and out of their columns.
pub(crate) fn to_json_strings<S: AsRef<str>>(items: &[S]) -> serde_json::Value {
    serde_json::Value::Array(items.iter().map(|s| serde_json::Value::String(s.as_ref().to_owned())).collect())
}

pub(crate) fn from_json_strings(value: serde_json::Value, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Internal(format!("corrupt {column}: {e}")))
}

/// The row a primary-key `SELECT` finds, if any. Not sea-orm's `one()`: that adds `LIMIT ?` with
/// the limit as a bound parameter, and SQLite (built with STAT4, as libsqlite3-sys bundles it)
/// treats a bound LIMIT as able to change the plan, so it re-prepares the cached statement on every
/// execution, which costs more than the lookup itself. A primary key matches at most one row.
pub(crate) async fn by_primary_key<E: EntityTrait>(
    select: Select<E>,
    db: &DatabaseConnection,
) -> Result<Option<E::Model>, DbErr> {
    Ok(select.all(db).await?.into_iter().next())
}

/// Pages of lists: a limit of 0 means "no limit". Always a number, because SQLite accepts an
/// OFFSET only after a LIMIT; `i64::MAX` is the largest both databases take.
pub(crate) fn page_limit(limit: u64) -> u64 {
    const NO_LIMIT: u64 = i64::MAX.unsigned_abs();
    if limit == 0 { NO_LIMIT } else { limit.min(NO_LIMIT) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_database_urls() {
        let cases = [
            ("postgres://user:pass@h/db", "postgres://user:[redacted]@h/db"),
            (
                "postgres://user:p%40ss@h:5432/db?sslmode=require",
                "postgres://user:[redacted]@h:5432/db?sslmode=require",
            ),
            ("postgres://user@h/db", "postgres://user@h/db"),
            ("postgres://h/db?user=u&password=secret", "postgres://h/db?user=u&password=[redacted]"),
            ("sqlite://./data/latchkey.db?mode=rwc", "sqlite://./data/latchkey.db?mode=rwc"),
            ("sqlite::memory:", "sqlite::memory:"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_database_url(input), want, "{input}");
        }
    }

    #[test]
    fn timestamps_truncate_to_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        assert_eq!(truncate(t).timestamp_subsec_nanos(), 123_456_000);
    }
}
