//! `GET /account/apps` and `POST /account/apps/revoke`: the applications the person allowed to
//! sign them in, and taking that permission back.
//!
//! Revoking removes the consent (the application must ask again) and revokes every refresh and
//! access token that client holds for this person, so it loses access at once rather than when its
//! tokens expire. Other people's grants to the same client are untouched.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::model::{AuditOutcome, ClientId};
use latchkey_core::scope;
use latchkey_core::store::{ClientStore as _, GrantStore as _};
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;

use super::{When, audit_own, console_context, done};
use crate::auth::RequestMeta;
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, CurrentSession};
use crate::http::flash::{self, Flash};
use crate::http::page::render;
use crate::http::paths;
use crate::state::AppState;

/// What a granted scope lets the application do, in the words of a person reviewing it later
/// (OIDC Core §5.4 for the standard ones).
fn describe(granted: &str) -> String {
    match granted {
        scope::OPENID => "Knows who you are (your Latchkey account identifier)".into(),
        scope::PROFILE => "Can see your name and username".into(),
        scope::EMAIL => "Can see your email address and whether it is verified".into(),
        scope::ROLES => "Can see the roles you hold".into(),
        scope::OFFLINE_ACCESS => "Can keep access while you are not using it".into(),
        other => format!("Access named \u{201c}{other}\u{201d}"),
    }
}

#[derive(Debug, Serialize)]
struct AppView {
    client_id: String,
    name: String,
    scopes: Vec<String>,
    granted: When,
}

pub async fn apps_get(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let mut apps = Vec::new();
    for consent in app.store.list_consents_of(current.account.id).await? {
        // Deleting a client deletes its consents; a missing one shows its id rather than failing.
        let name =
            app.store.find_client(&consent.client_id).await?.map_or_else(|| consent.client_id.0.clone(), |c| c.name);
        apps.push(AppView {
            client_id: consent.client_id.0.clone(),
            name,
            scopes: consent.scopes.iter().map(|s| describe(s)).collect(),
            granted: When::of(consent.granted_at),
        });
    }
    apps.sort_by_key(|a| a.name.to_lowercase());
    let mut ctx = console_context(&current, "apps", flash::take(&app, &cookies));
    ctx.insert("csrf_token", &csrf);
    ctx.insert("apps", &apps);
    render(&app, StatusCode::OK, "idp/account/apps.html", &ctx)
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    pub client_id: String,
}

/// Client ids are at most this long everywhere; a longer value cannot name one.
const CLIENT_ID_MAX: usize = 255;

pub async fn app_revoke_post(
    State(app): State<AppState>,
    current: CurrentSession,
    cookies: Cookies,
    meta: RequestMeta,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    let account = current.account.id;
    if form.client_id.is_empty() || form.client_id.len() > CLIENT_ID_MAX {
        return Err(PageError::NotFound);
    }
    let client = ClientId(form.client_id);
    let now = app.clock.now();
    // Only this account's grants are touched: both calls are keyed by the session's account.
    let had_consent = app.store.delete_consent(account, &client).await?;
    let revoked = app.store.revoke_tokens_of(account, Some(&client), now).await?;
    if !had_consent && revoked == 0 {
        return Err(PageError::NotFound);
    }
    audit_own(
        &app,
        "consent.revoked",
        account,
        Some(client),
        AuditOutcome::Success,
        &meta,
        serde_json::json!({ "had_consent": had_consent, "tokens_revoked": revoked }),
    )
    .await;
    Ok(done(&app, &cookies, Flash::AppRevoked, paths::ACCOUNT_APPS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_user_scope_has_plain_words() {
        for s in scope::END_USER_SCOPES {
            assert!(!describe(s).contains('\u{201c}'), "{s} has no description");
        }
        assert_eq!(describe("custom:thing"), "Access named \u{201c}custom:thing\u{201d}");
    }
}
