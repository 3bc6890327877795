//! Accounts as administrators manage them: create, edit, disable, passwords, sessions, delete.

use latchkey_core::account::{normalize_username, validate_email, validate_username};
use latchkey_core::model::{Account, AccountId, AccountQuery, NewAccount, RoleId, Session, SessionId};

use super::{ADMIN_ROLE, Actor, Ctx, Page, ServiceError, ServiceResult, audit, page_size, roles};

const DISPLAY_NAME_MAX: usize = 128;

/// An account with its role names, for lists and detail views.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub account: Account,
    pub roles: Vec<String>,
}

/// What creating an account takes.
#[derive(Debug, Clone, Default)]
pub struct NewAccountInput {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub password: String,
    pub roles: Vec<String>,
    pub email_verified: bool,
    /// The person must choose a new password at their first sign-in.
    pub require_password_change: bool,
}

/// The editable profile fields.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub email: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
}

fn display_name(raw: Option<&str>) -> ServiceResult<Option<String>> {
    match raw.map(str::trim) {
        Some(d) if d.chars().count() > DISPLAY_NAME_MAX => Err(ServiceError::invalid(
            "display_name",
            format!("display name must be at most {DISPLAY_NAME_MAX} characters"),
        )),
        Some("") | None => Ok(None),
        Some(d) => Ok(Some(d.to_owned())),
    }
}

fn taken() -> ServiceError {
    ServiceError::Conflict { field: "username", message: "that username or email is already taken".into() }
}

/// Checks a new password against the policy, naming the field.
fn check_password(ctx: &Ctx<'_>, password: &str, username: &str, email: &str) -> ServiceResult<()> {
    ctx.policy.check(password, username, email).map_err(|p| ServiceError::invalid("password", p))
}

pub async fn list(
    ctx: &Ctx<'_>,
    search: Option<&str>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> ServiceResult<Page<AccountSummary>> {
    let search = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| s.chars().take(128).collect::<String>());
    let limit = page_size(limit);
    let offset = offset.unwrap_or(0);
    let query = AccountQuery { search: search.clone(), limit, offset };
    // The page and the total are independent queries: on a pool they run side by side.
    let (accounts, total) =
        futures_util::try_join!(ctx.store.list_accounts(&query), ctx.store.count_accounts(search.as_deref()))?;
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.id).collect();
    let mut roles = ctx.store.roles_of_accounts(&ids).await?;
    let items = accounts
        .into_iter()
        .map(|account| AccountSummary { roles: roles.remove(&account.id).unwrap_or_default(), account })
        .collect();
    Ok(Page { items, total, limit, offset })
}

pub async fn find(ctx: &Ctx<'_>, id: AccountId) -> ServiceResult<Account> {
    ctx.store.find_account(id).await?.ok_or_else(|| ServiceError::not_found("account", "no such account"))
}

pub async fn find_by_username(ctx: &Ctx<'_>, username: &str) -> ServiceResult<Account> {
    ctx.store
        .find_account_by_username(&normalize_username(username))
        .await?
        .ok_or_else(|| ServiceError::not_found("account", format!("no user named {username:?}")))
}

pub async fn summary(ctx: &Ctx<'_>, account: Account) -> ServiceResult<AccountSummary> {
    let roles = ctx.store.roles_of(account.id).await?;
    Ok(AccountSummary { account, roles })
}

/// A new account's input, checked.
pub struct Valid {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub roles: Vec<latchkey_core::model::Role>,
}

/// Checks every field of a new account (username, email, display name, roles, uniqueness,
/// password policy) without writing or hashing anything.
pub async fn validate_new(ctx: &Ctx<'_>, input: &NewAccountInput) -> ServiceResult<Valid> {
    let username = validate_username(&input.username).map_err(|e| ServiceError::invalid("username", e))?;
    let email = validate_email(&input.email).map_err(|e| ServiceError::invalid("email", e))?;
    let display_name = display_name(input.display_name.as_deref())?;
    let mut role_list = Vec::new();
    for name in &input.roles {
        role_list.push(roles::find(ctx, name).await?);
    }
    if ctx.store.find_account_by_username(&username).await?.is_some()
        || ctx.store.find_account_by_email(&email).await?.is_some()
    {
        return Err(taken());
    }
    check_password(ctx, &input.password, &username, &email)?;
    Ok(Valid { username, email, display_name, roles: role_list })
}

/// Creates an account: every field is checked (username, email, display name, roles, password
/// policy) before anything is written or hashed.
pub async fn create(ctx: &Ctx<'_>, input: NewAccountInput) -> ServiceResult<Account> {
    let Valid { username, email, display_name, roles: role_list } = validate_new(ctx, &input).await?;
    let hash = ctx.passwords.hash(&input.password).await?;
    let new = NewAccount {
        id: AccountId::new(),
        username,
        email,
        email_verified: input.email_verified,
        password_hash: Some(hash),
        display_name,
    };
    let mut role_ids: Vec<RoleId> = Vec::with_capacity(role_list.len());
    for role in &role_list {
        // `--role admin --role admin` grants it once.
        if !role_ids.contains(&role.id) {
            role_ids.push(role.id);
        }
    }
    let account =
        ctx.store.insert_account_with_roles(new, &role_ids, input.require_password_change, ctx.now()).await.map_err(
            |e| match ServiceError::from(e) {
                ServiceError::Conflict { .. } => taken(),
                other => other,
            },
        )?;
    let role_names: Vec<&str> = role_list.iter().map(|r| r.name.as_str()).collect();
    audit::record(
        ctx,
        "admin.account.created",
        Some(account.id),
        None,
        serde_json::json!({"username": account.username, "roles": role_names}),
    )
    .await;
    find(ctx, account.id).await
}

/// Changes email, display name and the verified flag.
pub async fn update_profile(ctx: &Ctx<'_>, account: &Account, input: ProfileInput) -> ServiceResult<Account> {
    let email = validate_email(&input.email).map_err(|e| ServiceError::invalid("email", e))?;
    let display_name = display_name(input.display_name.as_deref())?;
    if let Some(other) = ctx.store.find_account_by_email(&email).await?
        && other.id != account.id
    {
        return Err(ServiceError::Conflict { field: "email", message: "that email is already taken".into() });
    }
    ctx.store
        .update_profile(account.id, &email, input.email_verified, display_name.as_deref(), ctx.now())
        .await
        .map_err(|e| match ServiceError::from(e) {
            ServiceError::Conflict { .. } => {
                ServiceError::Conflict { field: "email", message: "that email is already taken".into() }
            }
            other => other,
        })?;
    let changed: Vec<&str> = [
        (email != account.email, "email"),
        (input.email_verified != account.email_verified, "email_verified"),
        (display_name != account.display_name, "display_name"),
    ]
    .into_iter()
    .filter_map(|(c, name)| c.then_some(name))
    .collect();
    audit::record(ctx, "admin.account.updated", Some(account.id), None, serde_json::json!({"changed": changed})).await;
    find(ctx, account.id).await
}

/// The outcome of disabling an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabled {
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
}

/// Disables or enables an account. Disabling ends every session and revokes every refresh and
/// access token at once: a disabled person must lose access now, not when a token expires.
pub async fn set_disabled(ctx: &Ctx<'_>, account: &Account, disabled: bool) -> ServiceResult<Disabled> {
    if disabled && ctx.actor == Actor::Admin(account.id) {
        return Err(ServiceError::refused("self_lockout", "you cannot disable your own account"));
    }
    let now = ctx.now();
    ctx.store.set_account_disabled(account.id, disabled, now).await?;
    if !disabled {
        audit::record(ctx, "admin.account.enabled", Some(account.id), None, serde_json::json!({})).await;
        return Ok(Disabled { sessions_ended: 0, tokens_revoked: 0 });
    }
    let sessions_ended = ctx.store.delete_sessions_of(account.id, None).await?;
    let tokens_revoked = ctx.store.revoke_tokens_of(account.id, None, now).await?;
    audit::record(
        ctx,
        "admin.account.disabled",
        Some(account.id),
        None,
        serde_json::json!({"sessions_ended": sessions_ended, "tokens_revoked": tokens_revoked}),
    )
    .await;
    Ok(Disabled { sessions_ended, tokens_revoked })
}

/// Sets a new password (policy enforced) and ends the account's sessions; with
/// `require_change`, the person must choose another one at their next sign-in.
pub async fn set_password(
    ctx: &Ctx<'_>,
    account: &Account,
    password: &str,
    require_change: bool,
) -> ServiceResult<u64> {
    check_password(ctx, password, &account.username, &account.email)?;
    let hash = ctx.passwords.hash(password).await?;
    let now = ctx.now();
    ctx.store.update_password_hash(account.id, &hash, now).await?;
    ctx.store.set_password_change_required(account.id, require_change, now).await?;
    // Every session ends, the acting administrator's own too when they set their own password here:
    // whoever used the old password is signed out (the console's confirmation page says so).
    let ended = ctx.store.delete_sessions_of(account.id, None).await?;
    audit::record(
        ctx,
        "admin.account.password_set",
        Some(account.id),
        None,
        serde_json::json!({"require_change": require_change, "sessions_ended": ended}),
    )
    .await;
    Ok(ended)
}

/// Requires (or stops requiring) a new password at the next sign-in.
pub async fn require_password_change(ctx: &Ctx<'_>, account: &Account, required: bool) -> ServiceResult<()> {
    ctx.store.set_password_change_required(account.id, required, ctx.now()).await?;
    audit::record(
        ctx,
        "admin.account.password_change_required",
        Some(account.id),
        None,
        serde_json::json!({"required": required}),
    )
    .await;
    Ok(())
}

pub async fn sessions(ctx: &Ctx<'_>, account: &Account) -> ServiceResult<Vec<Session>> {
    Ok(ctx.store.list_sessions_of(account.id).await?)
}

/// Ends one of the account's sessions.
pub async fn end_session(ctx: &Ctx<'_>, account: &Account, session: SessionId) -> ServiceResult<()> {
    match ctx.store.find_session(session).await? {
        Some(s) if s.account_id == account.id => {
            ctx.store.delete_session(session).await?;
        }
        _ => return Err(ServiceError::not_found("session", "no such session")),
    }
    audit::record(ctx, "admin.session.ended", Some(account.id), None, serde_json::json!({"session_id": session})).await;
    Ok(())
}

/// Ends every session of the account; returns how many.
pub async fn end_all_sessions(ctx: &Ctx<'_>, account: &Account) -> ServiceResult<u64> {
    let ended = ctx.store.delete_sessions_of(account.id, None).await?;
    audit::record(ctx, "admin.session.ended_all", Some(account.id), None, serde_json::json!({"ended": ended})).await;
    Ok(ended)
}

/// Deletes the account with its roles, sessions, consents and tokens (the store cascades).
pub async fn delete(ctx: &Ctx<'_>, account: &Account) -> ServiceResult<()> {
    if ctx.actor == Actor::Admin(account.id) {
        return Err(ServiceError::refused("self_lockout", "you cannot delete your own account"));
    }
    ctx.store.delete_account(account.id).await?;
    // The audit row outlives the account: it keeps the id and the name for the record.
    audit::record(
        ctx,
        "admin.account.deleted",
        None,
        None,
        serde_json::json!({"account_id": account.id, "username": account.username}),
    )
    .await;
    Ok(())
}

/// Is the account an administrator?
pub async fn is_admin(ctx: &Ctx<'_>, account: AccountId) -> ServiceResult<bool> {
    Ok(ctx.store.roles_of(account).await?.iter().any(|r| r == ADMIN_ROLE))
}
