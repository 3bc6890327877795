//! `GET/POST /account/profile`: the display name and the email address.
//!
//! A new email address needs the current password: whoever holds only a session cookie must not
//! be able to move the account's mail (and with it any later recovery) to themselves. The new
//! address starts unverified. A taken address gets the sign-up page's message, which does not say
//! whether the username or the email is the problem, and is checked only after the password, so
//! this form cannot be used to find out who has an account without knowing this account's password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::StoreError;
use latchkey_core::account::{EMAIL_MAX, email_key, validate_email};
use latchkey_core::model::{Account, AuditOutcome};
use latchkey_core::store::AccountStore as _;
use serde::Deserialize;
use tower_cookies::Cookies;

use super::reauth::{self, Reauth};
use super::{audit_own, console_context, done};
use crate::auth::{FieldErrors, RequestMeta, sentence};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, CurrentSession};
use crate::http::flash::{self, Flash, FlashView};
use crate::http::page::render;
use crate::http::paths;
use crate::state::AppState;

/// Longest display name: room for any real name, bounded for the pages and tokens that show it.
pub const DISPLAY_NAME_MAX: usize = 128;

/// Said for an email address another account has, in the sign-up page's words: it does not say
/// which of username and email is taken.
pub const EMAIL_TAKEN: &str = "That username or email cannot be used. Choose another email address.";

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    pub display_name: String,
    pub email: String,
    /// Needed only when the email address changes.
    #[serde(default)]
    pub current_password: String,
}

struct ProfileView<'a> {
    display_name: &'a str,
    email: &'a str,
    errors: FieldErrors,
    flash: Option<FlashView>,
    form_error: Option<String>,
}

fn render_profile(
    app: &AppState,
    current: &CurrentSession,
    csrf: &str,
    status: StatusCode,
    view: ProfileView<'_>,
) -> Result<Response, PageError> {
    let mut ctx = console_context(current, "profile", view.flash);
    ctx.insert("csrf_token", csrf);
    ctx.insert("form_display_name", view.display_name);
    ctx.insert("form_email", view.email);
    let verified = if current.account.email_verified { "verified" } else { "not verified" };
    ctx.insert(
        "email_hint",
        &format!("Now {} ({verified}). A new address needs your current password.", current.account.email),
    );
    ctx.insert("errors", &view.errors);
    ctx.insert("form_error", &view.form_error);
    ctx.insert("display_name_max", &DISPLAY_NAME_MAX);
    render(app, status, "idp/account/profile.html", &ctx)
}

pub async fn profile_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let display_name = current.account.display_name.clone().unwrap_or_default();
    let view = ProfileView {
        display_name: &display_name,
        email: &current.account.email,
        errors: FieldErrors::new(),
        flash: flash::take(&app, &cookies),
        form_error: None,
    };
    render_profile(&app, &current, &csrf, StatusCode::OK, view)
}

/// The display name as stored: trimmed, `None` when empty.
fn check_display_name(raw: &str) -> Result<Option<String>, String> {
    let name = raw.trim();
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err(format!("Use at most {DISPLAY_NAME_MAX} characters."));
    }
    // Control characters (newlines, bidi overrides aside) have no place in a name shown on pages and
    // put into ID tokens.
    if name.chars().any(char::is_control) {
        return Err("Use letters, digits, spaces and punctuation only.".into());
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

/// Does `email` name another mailbox than the account's current one? A change of letter case only
/// is not a new address (uniqueness and sign-in ignore case), so it needs no password.
fn is_new_email(account: &Account, email: &str) -> bool {
    email_key(email) != email_key(&account.email)
}

pub async fn profile_post(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfToken(csrf): CsrfToken,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<Response, PageError> {
    let account = &current.account;
    // Echoed back into the form: bounded, the password never.
    let echo_name: String = form.display_name.chars().take(4 * DISPLAY_NAME_MAX).collect();
    let echo_email: String = form.email.trim().chars().take(EMAIL_MAX + 1).collect();
    let reply = |status, errors, form_error| {
        let view = ProfileView { display_name: &echo_name, email: &echo_email, errors, flash: None, form_error };
        render_profile(&app, &current, &csrf, status, view)
    };

    let mut errors = FieldErrors::new();
    let display_name = check_display_name(&form.display_name).map_err(|e| errors.insert("display_name", e)).ok();
    let email = validate_email(&form.email).map_err(|e| errors.insert("email", sentence(e))).ok();
    let new_email = email.as_deref().is_some_and(|e| is_new_email(account, e));
    if new_email && form.current_password.is_empty() {
        errors.insert("current_password", "Enter your current password to change your email address.".into());
    }
    let (Some(display_name), Some(email)) = (display_name, email) else {
        return reply(StatusCode::BAD_REQUEST, errors, Some("Please correct the highlighted fields.".into()));
    };
    if !errors.is_empty() {
        return reply(StatusCode::BAD_REQUEST, errors, Some("Please correct the highlighted fields.".into()));
    }

    if new_email {
        match reauth::confirm_password(&app, account, &form.current_password, "email_change", &meta).await? {
            Reauth::Confirmed => {}
            Reauth::Wrong => {
                errors.insert("current_password", reauth::WRONG_PASSWORD.into());
                return reply(StatusCode::BAD_REQUEST, errors, None);
            }
            Reauth::Throttled { retry_after } => {
                let message = Reauth::throttled_message(retry_after);
                return Ok(reauth::with_retry_after(reply(StatusCode::OK, errors, Some(message))?, retry_after));
            }
        }
        let holder = app.store.find_account_by_email(&email).await?;
        if holder.is_some_and(|other| other.id != account.id) {
            return taken(&app, account, &meta, reply(StatusCode::BAD_REQUEST, errors, Some(EMAIL_TAKEN.into()))).await;
        }
    }

    if email == account.email && display_name == account.display_name {
        return Ok(done(&app, &cookies, Flash::ProfileUnchanged, paths::ACCOUNT_PROFILE));
    }
    // A new address is unverified until proven; a change of case keeps the flag.
    let verified = account.email_verified && !new_email;
    let now = app.clock.now();
    match app.store.update_profile(account.id, &email, verified, display_name.as_deref(), now).await {
        Ok(()) => {}
        // Lost a race with another account taking the address: the same answer.
        Err(StoreError::Conflict(_)) => {
            return taken(&app, account, &meta, reply(StatusCode::BAD_REQUEST, errors, Some(EMAIL_TAKEN.into()))).await;
        }
        Err(err) => return Err(err.into()),
    }
    if display_name != account.display_name {
        audit_own(
            &app,
            "account.profile_updated",
            account.id,
            None,
            AuditOutcome::Success,
            &meta,
            serde_json::json!({ "fields": ["display_name"] }),
        )
        .await;
    }
    if email != account.email {
        audit_own(
            &app,
            "account.email_changed",
            account.id,
            None,
            AuditOutcome::Success,
            &meta,
            serde_json::json!({ "from": account.email, "to": email, "case_only": !new_email }),
        )
        .await;
    }
    let message = if new_email { Flash::EmailChanged } else { Flash::ProfileUpdated };
    Ok(done(&app, &cookies, message, paths::ACCOUNT_PROFILE))
}

async fn taken(
    app: &AppState,
    account: &Account,
    meta: &RequestMeta,
    page: Result<Response, PageError>,
) -> Result<Response, PageError> {
    audit_own(
        app,
        "account.email_changed",
        account.id,
        None,
        AuditOutcome::Failure,
        meta,
        serde_json::json!({ "reason": "taken" }),
    )
    .await;
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(check_display_name("  Ada Lovelace "), Ok(Some("Ada Lovelace".into())));
        assert_eq!(check_display_name("   "), Ok(None));
        assert_eq!(check_display_name(&"é".repeat(DISPLAY_NAME_MAX)), Ok(Some("é".repeat(DISPLAY_NAME_MAX))));
        assert!(check_display_name(&"a".repeat(DISPLAY_NAME_MAX + 1)).is_err());
        assert!(check_display_name("Ada\nLovelace").is_err());
        assert!(check_display_name("Ada\u{7}").is_err());
    }
}
