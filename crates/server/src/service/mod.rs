//! The administration service: every operation the admin console, the admin API and the CLI
//! perform, in one place, so a rule enforced in one is enforced in all (username, email and
//! password policy; redirect URI rules; what disabling or deleting an account takes with it;
//! secrets shown once; every action audited with who did it to whom).
//!
//! Each function takes a [`Ctx`] (the store, the clock, the hasher, who is acting) and validated
//! or raw input, and returns core types or a [`ServiceError`] with a stable `code` and, for
//! validation errors, the name of the offending field. Nothing here knows HTTP or the terminal.

pub mod accounts;
pub mod audit;
pub mod clients;
pub mod keys;
pub mod roles;
pub mod setup;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use latchkey_core::model::{AccountId, ClientId};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::store::Store;
use latchkey_core::{Clock, StoreError};

use crate::auth::RequestMeta;
use crate::config::Config;
use crate::passwords::{HashError, PasswordHasher};

/// The scope a bearer token needs for `/admin/api` (besides, for a person's token, the `admin` role).
pub const ADMIN_SCOPE: &str = "latchkey:admin";
/// The built-in role that may administer Latchkey.
pub const ADMIN_ROLE: &str = "admin";

/// Who performs an administrative action; recorded in every audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person with the `admin` role, through the console or with their own token on the API.
    Admin(AccountId),
    /// An OAuth client with the `latchkey:admin` scope (client_credentials automation).
    Client(ClientId),
    /// The `latchkey` command line, run by whoever holds the server's configuration.
    Cli,
    /// The first-administrator setup link.
    Setup,
}

impl Actor {
    pub fn account_id(&self) -> Option<AccountId> {
        match self {
            Self::Admin(id) => Some(*id),
            _ => None,
        }
    }

    /// For the audit detail: `admin:<id>`, `client:<id>`, `cli`, `setup`.
    pub fn label(&self) -> String {
        match self {
            Self::Admin(id) => format!("admin:{id}"),
            Self::Client(id) => format!("client:{id}"),
            Self::Cli => "cli".to_owned(),
            Self::Setup => "setup".to_owned(),
        }
    }
}

/// What every service call needs.
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub passwords: &'a PasswordHasher,
    pub policy: PasswordPolicy,
    pub actor: Actor,
    /// `console`, `api`, `cli` or `setup`: which surface the action came through.
    pub via: &'static str,
    pub meta: RequestMeta,
}

impl<'a> Ctx<'a> {
    pub fn new(
        config: &Config,
        store: &'a dyn Store,
        clock: &'a dyn Clock,
        passwords: &'a PasswordHasher,
        actor: Actor,
        via: &'static str,
        meta: RequestMeta,
    ) -> Self {
        Self { store, clock, passwords, policy: password_policy(config), actor, via, meta }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The password policy of this deployment (also used by sign-up).
pub fn password_policy(config: &Config) -> PasswordPolicy {
    PasswordPolicy { min_length: config.passwords.min_length, ..PasswordPolicy::default() }
}

/// Why an administrative operation failed. `code()` is stable (API clients match on it); the
/// message is for people; `field()` names the input at fault for validation errors.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An input breaks a rule.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// A unique value (username, email, client id, role name) is taken.
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    #[error("{message}")]
    NotFound { what: &'static str, message: String },
    /// The operation is not possible in this state (a built-in role, a public client's secret,
    /// locking yourself out).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("password hashing is at capacity; try again in a moment")]
    Busy,
    #[error("the database is briefly unavailable; try again in a moment")]
    Unavailable,
    /// The detail is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Invalid { field, message: message.to_string() }
    }

    pub fn not_found(what: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { what, message: message.into() }
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { code, message: message.into() }
    }

    /// The stable error code of the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::Refused { code, .. } => code,
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(field) => {
                let field = match field.as_str() {
                    "username" => "username",
                    "email" => "email",
                    "client_id" => "client_id",
                    "name" => "name",
                    _ => "id",
                };
                Self::Conflict { field, message: format!("that {field} is already taken") }
            }
            StoreError::NotFound(what) => Self::NotFound { what: "record", message: format!("{what} not found") },
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                Self::Unavailable
            }
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<HashError> for ServiceError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Busy,
            HashError::Internal(detail) => Self::Internal(detail),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// One page of a list, with the total for the pager.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// The largest page a caller may ask for.
pub const MAX_PAGE: u64 = 200;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: u64 = 50;

/// Clamps a requested page size to 1..=MAX_PAGE.
pub fn page_size(limit: Option<u64>) -> u64 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}
