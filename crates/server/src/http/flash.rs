//! Flash messages: a message set on a redirect and shown once on the page it leads to.
//!
//! The cookie carries only a code from the fixed list below, signed with a key derived from the
//! key-encryption key: nobody can make the pages show text of their choosing (content injection,
//! "call this number"), and the message itself is never attacker-controlled. It lives a minute at
//! most and is removed by the page that shows it, so it survives exactly one redirect.

use serde::Serialize;
use tower_cookies::Cookies;

use crate::http::session::CookieSettings;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    SignedUp,
    SignedIn,
    SignedOut,
    SessionExpired,
    SignInRequired,
    ProfileUpdated,
    ProfileUnchanged,
    EmailChanged,
    PasswordChanged,
    PasswordChangedOthersSignedOut,
    SessionEnded,
    OtherSessionsEnded,
    AppRevoked,
}

impl Flash {
    const ALL: [Flash; 13] = [
        Self::SignedUp,
        Self::SignedIn,
        Self::SignedOut,
        Self::SessionExpired,
        Self::SignInRequired,
        Self::ProfileUpdated,
        Self::ProfileUnchanged,
        Self::EmailChanged,
        Self::PasswordChanged,
        Self::PasswordChangedOthersSignedOut,
        Self::SessionEnded,
        Self::OtherSessionsEnded,
        Self::AppRevoked,
    ];

    fn code(self) -> &'static str {
        match self {
            Self::SignedUp => "signed_up",
            Self::SignedIn => "signed_in",
            Self::SignedOut => "signed_out",
            Self::SessionExpired => "session_expired",
            Self::SignInRequired => "sign_in_required",
            Self::ProfileUpdated => "profile_updated",
            Self::ProfileUnchanged => "profile_unchanged",
            Self::EmailChanged => "email_changed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordChangedOthersSignedOut => "password_changed_others_signed_out",
            Self::SessionEnded => "session_ended",
            Self::OtherSessionsEnded => "other_sessions_ended",
            Self::AppRevoked => "app_revoked",
        }
    }

    pub fn view(self) -> FlashView {
        let (kind, text) = match self {
            Self::SignedUp => ("success", "Your account has been created and you are signed in."),
            Self::SignedIn => ("success", "You are signed in."),
            Self::SignedOut => ("success", "You have been signed out."),
            Self::SessionExpired => ("error", "Your session expired, please sign in again."),
            Self::SignInRequired => ("info", "Please sign in to continue."),
            Self::ProfileUpdated => ("success", "Your profile has been saved."),
            Self::ProfileUnchanged => ("info", "Nothing to save: your profile already had these details."),
            Self::EmailChanged => {
                ("success", "Your profile has been saved. Your new email address is not verified yet.")
            }
            Self::PasswordChanged => ("success", "Your password has been changed."),
            Self::PasswordChangedOthersSignedOut => {
                ("success", "Your password has been changed and your other sessions have been signed out.")
            }
            Self::SessionEnded => ("success", "That session has been signed out."),
            Self::OtherSessionsEnded => ("success", "All your other sessions have been signed out."),
            Self::AppRevoked => (
                "success",
                "The application's access has been revoked. It will need your permission again to sign you in.",
            ),
        };
        FlashView { kind, text: text.to_owned() }
    }
}

/// What the templates render: `<div class="flash {{ kind }}">{{ text }}</div>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlashView {
    /// `success`, `error` or `info`.
    pub kind: &'static str,
    pub text: String,
}

impl FlashView {
    pub fn error(text: impl Into<String>) -> Self {
        Self { kind: "error", text: text.into() }
    }
}

/// Sets the message for the next page.
pub fn set(app: &AppState, cookies: &Cookies, flash: Flash) {
    let settings = CookieSettings::new(&app.config);
    let cookie = settings.cookie(settings.flash_name(), flash.code().to_owned(), Some(chrono::Duration::minutes(1)));
    cookies.signed(app.secrets.cookie_key()).add(cookie);
}

/// Takes the pending message, if any, and removes it so it shows only once.
pub fn take(app: &AppState, cookies: &Cookies) -> Option<FlashView> {
    let settings = CookieSettings::new(&app.config);
    let name = settings.flash_name();
    cookies.get(name)?;
    let value = cookies.signed(app.secrets.cookie_key()).get(name);
    cookies.remove(settings.removal(name));
    let value = value?;
    Flash::ALL.into_iter().find(|f| f.code() == value.value()).map(Flash::view)
}
