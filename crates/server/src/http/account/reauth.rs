//! Asking for the current password before a sensitive change (a new email address, a new password).
//!
//! Someone holding a stolen session cookie must not be able to use these forms to guess the
//! password: every attempt counts against the very same throttle as the sign-in form for this
//! account (`auth::login_key`), so the console gives no guesses beyond the sign-in page's budget,
//! and a success clears it exactly as a successful sign-in does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use latchkey_core::model::{Account, AuditOutcome};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::store::ThrottleStore as _;
use latchkey_core::throttle::{human_wait, retry_after_secs};

use super::audit_own;
use crate::auth::{self, RequestMeta};
use crate::http::error::PageError;
use crate::passwords::HashError;
use crate::state::AppState;

/// Said under the current-password field when it is wrong.
pub const WRONG_PASSWORD: &str = "That is not your current password.";

pub enum Reauth {
    Confirmed,
    Wrong,
    Throttled { retry_after: chrono::Duration },
}

impl Reauth {
    /// The message for a throttled attempt, shown above the form.
    pub fn throttled_message(retry_after: chrono::Duration) -> String {
        format!(
            "Too many wrong passwords. Please wait {} and try again. If you forgot your password, sign out and ask \
             your administrator to reset it.",
            human_wait(retry_after)
        )
    }
}

/// A 429 answer: `Retry-After` on an already rendered form.
pub fn with_retry_after(mut response: Response, retry_after: chrono::Duration) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(retry_after)));
    response
}

/// Hashing at capacity is a 503 page with `Retry-After`, as on the sign-in page.
pub fn hash_error(err: HashError) -> PageError {
    match err {
        HashError::Busy => PageError::Unavailable { retry_after_secs: 2 },
        HashError::Internal(detail) => PageError::Internal(detail),
    }
}

/// The longest password worth hashing; anything longer cannot be the current one.
pub fn max_password_chars() -> usize {
    PasswordPolicy::default().effective_bounds().1
}

/// Checks `password` against the account's stored hash, throttled like a sign-in. `purpose` says
/// which change asked (`email_change`, `password_change`), for the audit log.
pub async fn confirm_password(
    app: &AppState,
    account: &Account,
    password: &str,
    purpose: &str,
    meta: &RequestMeta,
) -> Result<Reauth, PageError> {
    let now = app.clock.now();
    let key = auth::login_key(&account.username);
    if let Err(retry_after) = auth::gate_counting(app, &key, now).await? {
        audit_own(
            app,
            "account.reauth_throttled",
            account.id,
            None,
            AuditOutcome::Failure,
            meta,
            serde_json::json!({ "purpose": purpose, "retry_after_secs": retry_after.num_seconds() }),
        )
        .await;
        return Ok(Reauth::Throttled { retry_after });
    }
    // Too long to be anyone's password: refused without spending a hash on it (the attempt still
    // counted above).
    let verified = if password.chars().count() > max_password_chars() {
        false
    } else {
        // An account without a password verifies the dummy hash: same time, always "no".
        app.passwords.verify(password, account.password_hash.as_deref()).await.map_err(hash_error)?.ok
    };
    if !verified {
        audit_own(
            app,
            "account.reauth_failure",
            account.id,
            None,
            AuditOutcome::Failure,
            meta,
            serde_json::json!({ "purpose": purpose }),
        )
        .await;
        return Ok(Reauth::Wrong);
    }
    app.store.clear_throttle(&key).await?;
    Ok(Reauth::Confirmed)
}
