//! The admin console's success and error messages, shown once on the page after a change.
//!
//! Unlike the sign-in pages' fixed codes, these carry text (the account or client acted on, the
//! service's validation message), so the cookie is signed with the server's cookie key: nobody
//! but this server can make a page show a message (no content injection), and it lives a minute.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;

use crate::http::session::CookieSettings;
use crate::state::AppState;

const COOKIE: &str = "latchkey_admin_flash";
const HOST_COOKIE: &str = "__Host-latchkey_admin_flash";
/// Longest message kept (a cookie must stay well under 4 KiB).
const MAX_TEXT: usize = 600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminFlash {
    /// `success` or `error`.
    pub kind: String,
    pub text: String,
}

impl AdminFlash {
    pub fn success(text: impl Into<String>) -> Self {
        Self { kind: "success".into(), text: text.into() }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self { kind: "error".into(), text: text.into() }
    }
}

fn name(app: &AppState) -> &'static str {
    if app.config.issuer.scheme() == "https" { HOST_COOKIE } else { COOKIE }
}

pub fn set(app: &AppState, cookies: &Cookies, flash: AdminFlash) {
    let flash = AdminFlash { kind: flash.kind, text: flash.text.chars().take(MAX_TEXT).collect() };
    let Ok(json) = serde_json::to_vec(&flash) else { return };
    let settings = CookieSettings::new(&app.config);
    let cookie = settings.cookie(name(app), URL_SAFE_NO_PAD.encode(json), Some(chrono::Duration::minutes(1)));
    cookies.signed(app.secrets.cookie_key()).add(cookie);
}

pub fn take(app: &AppState, cookies: &Cookies) -> Option<AdminFlash> {
    let name = name(app);
    cookies.get(name)?;
    let value = cookies.signed(app.secrets.cookie_key()).get(name);
    cookies.remove(CookieSettings::new(&app.config).removal(name));
    let bytes = URL_SAFE_NO_PAD.decode(value?.value()).ok()?;
    serde_json::from_slice(&bytes).ok()
}
