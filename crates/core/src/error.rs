//! Errors shared by the rules and the storage traits.

/// What a storage call can fail with. The store maps its database errors into these so that
/// callers can react to the few cases that matter (a unique key taken, a row not found) and treat
/// everything else as an internal failure whose detail is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the string names what was taken (`username`, `email`, `client_id`, ...).
    #[error("{0} is already taken")]
    Conflict(String),
    /// The row the call needed does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database cannot be reached right now (down, pool exhausted, timed out).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a corrupt row, an unexpected database answer. Log it, answer 500/server_error.
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
