//! The first administrator: on a database where no account has the `admin` role, `latchkey
//! serve` logs a one-time link (`<issuer>/setup?token=...`) with which the first person creates
//! the admin account in the browser.
//!
//! The token is 256 random bits, stored only as its SHA-256, valid for an hour and single use
//! (consumed atomically by the store). It grants nothing once an administrator exists.

use chrono::Duration;
use latchkey_core::model::Account;
use latchkey_core::secret::{Secret, TokenHash};
use latchkey_store::{SeaStore, SetupTokenState};

use super::accounts::{self, NewAccountInput};
use super::{ADMIN_ROLE, Ctx, ServiceError, ServiceResult};

/// How long a setup link stays valid.
pub fn link_lifetime() -> Duration {
    Duration::hours(1)
}

/// Does any account have the `admin` role?
pub async fn admin_exists(store: &SeaStore) -> ServiceResult<bool> {
    Ok(store.count_role_members(ADMIN_ROLE).await? > 0)
}

/// When no administrator exists, issues a fresh setup token and returns the link to log.
pub async fn issue_link_if_needed(ctx: &Ctx<'_>, store: &SeaStore, issuer: &str) -> ServiceResult<Option<String>> {
    if admin_exists(store).await? {
        return Ok(None);
    }
    let now = ctx.now();
    let _ = store.purge_setup_tokens(now).await?;
    let token = Secret::generate();
    store.insert_setup_token(&token.hash(), now, now + link_lifetime()).await?;
    let mut url = url::Url::parse(issuer).map_err(|e| ServiceError::Internal(format!("issuer: {e}")))?;
    let path = format!("{}/setup", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().append_pair("token", token.expose());
    Ok(Some(url.to_string()))
}

/// Why a setup link cannot be used, in words for the page.
pub fn state_problem(state: SetupTokenState) -> Option<&'static str> {
    match state {
        SetupTokenState::Valid => None,
        SetupTokenState::Used => Some("This setup link has already been used. Sign in with the administrator account."),
        SetupTokenState::Expired => Some(
            "This setup link has expired (links are valid for one hour). Restart latchkey to get a new one in its log, \
             or run `latchkey users add NAME --email ADDRESS --role admin`.",
        ),
        SetupTokenState::Missing => Some("This setup link is not valid. Copy the whole link from the server log."),
    }
}

/// The token's state (for showing the form). Once an administrator exists, every link is spent.
pub async fn check(store: &SeaStore, token: &str, ctx: &Ctx<'_>) -> ServiceResult<SetupTokenState> {
    if admin_exists(store).await? {
        return Ok(SetupTokenState::Used);
    }
    Ok(store.find_setup_token(&TokenHash::of(token), ctx.now()).await?)
}

/// Creates the first administrator: the input is checked in full first, then the token is
/// consumed (exactly one caller can), then the account is created with the `admin` role.
pub async fn complete(
    ctx: &Ctx<'_>,
    store: &SeaStore,
    token: &str,
    mut input: NewAccountInput,
) -> ServiceResult<Result<Account, SetupTokenState>> {
    let state = check(store, token, ctx).await?;
    if state != SetupTokenState::Valid {
        return Ok(Err(state));
    }
    input.roles = vec![ADMIN_ROLE.to_owned()];
    input.require_password_change = false;
    accounts::validate_new(ctx, &input).await?;
    match store.consume_setup_token(&TokenHash::of(token), ctx.now()).await? {
        SetupTokenState::Valid => {}
        other => return Ok(Err(other)),
    }
    Ok(Ok(accounts::create(ctx, input).await?))
}
