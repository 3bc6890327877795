//! From database errors to [`StoreError`]: the few cases callers react to (a unique key taken, the
//! database unreachable) get their own variant; everything else is `Internal`, whose text is for
//! the log only.

use latchkey_core::StoreError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Which field a unique violation is about, recognised from the PostgreSQL constraint name or the
/// SQLite message (`UNIQUE constraint failed: accounts.email_key`). Checked in order: the first
/// needle found wins, so the specific column names come before the table names.
const CONFLICT_FIELDS: &[(&str, &str)] = &[
    ("username", "username"),
    ("email_key", "email"),
    ("account_roles", "account_role"),
    ("roles", "role"),
    ("clients", "client_id"),
    ("sessions", "session"),
    ("authorization_codes", "code"),
    ("refresh_tokens", "refresh_token"),
    ("access_tokens", "jti"),
    ("consents", "consent"),
    ("signing_keys", "kid"),
    ("audit_events", "audit_event"),
    ("login_throttle", "throttle_key"),
    ("accounts", "account_id"),
];

/// Maps any database error; `what` names the row for `NotFound` on a foreign-key violation.
pub(crate) fn map_db_err(err: DbErr) -> StoreError {
    if let Some(sql_err) = err.sql_err() {
        return match sql_err {
            SqlErr::UniqueConstraintViolation(_) => StoreError::Conflict(conflict_field(&err)),
            SqlErr::ForeignKeyConstraintViolation(_) => StoreError::NotFound("referenced row".to_owned()),
            other => StoreError::Internal(other.to_string()),
        };
    }
    match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) if unavailable(e) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Internal(err.to_string()),
    }
}

fn conflict_field(err: &DbErr) -> String {
    let hint = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => {
                db.constraint().map_or_else(|| db.message().to_owned(), str::to_owned)
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    CONFLICT_FIELDS
        .iter()
        .find(|(needle, _)| hint.contains(needle))
        .map_or_else(|| "unique key".to_owned(), |(_, field)| (*field).to_owned())
}

/// Errors that say "the database cannot serve us now" rather than "this request is wrong".
fn unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: class 08 connection exceptions, 53 insufficient resources, 57P0x shutdown / cannot connect now.
            // SQLite: 5 SQLITE_BUSY and 6 SQLITE_LOCKED (extended codes keep the low byte) after the busy timeout.
            if code.len() == 5 {
                // A SQLSTATE: every PostgreSQL code has five characters.
                code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
            } else {
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

/// Shorthand for `.map_err(map_db_err)`.
pub(crate) trait DbResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(map_db_err)
    }
}
