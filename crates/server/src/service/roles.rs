//! Roles: the built-in `admin` and the ones administrators create; assigning them to accounts.

use latchkey_core::model::{Account, Role};

use super::{ADMIN_ROLE, Actor, Ctx, ServiceError, ServiceResult, audit};

/// Role names: like scope tokens, lowercase letters, digits, '-', '_', '.', ':'; 1 to 64 characters.
pub fn validate_role_name(name: &str) -> ServiceResult<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
    {
        return Err(ServiceError::invalid(
            "name",
            format!("role name {name:?} must be 1 to 64 characters of a-z, 0-9, '-', '_', '.', ':'"),
        ));
    }
    Ok(())
}

const DESCRIPTION_MAX: usize = 256;

pub async fn list(ctx: &Ctx<'_>) -> ServiceResult<Vec<Role>> {
    Ok(ctx.store.list_roles().await?)
}

/// The role named `name`, or a `not_found` error that says how to create it.
pub async fn find(ctx: &Ctx<'_>, name: &str) -> ServiceResult<Role> {
    ctx.store.find_role_by_name(name).await?.ok_or_else(|| {
        ServiceError::not_found("role", format!("no role named {name:?} (create it with `latchkey roles add {name}`)"))
    })
}

pub async fn create(ctx: &Ctx<'_>, name: &str, description: Option<&str>) -> ServiceResult<Role> {
    let name = name.trim();
    validate_role_name(name)?;
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        return Err(ServiceError::invalid("description", format!("at most {DESCRIPTION_MAX} characters")));
    }
    if ctx.store.find_role_by_name(name).await?.is_some() {
        return Err(ServiceError::Conflict { field: "name", message: "that role name is already taken".into() });
    }
    let role = ctx.store.insert_role(name, description).await.map_err(|e| match ServiceError::from(e) {
        ServiceError::Conflict { .. } => {
            ServiceError::Conflict { field: "name", message: "that role name is already taken".into() }
        }
        other => other,
    })?;
    audit::record(ctx, "admin.role.created", None, None, serde_json::json!({"role": role.name})).await;
    Ok(role)
}

/// Deletes a role (and its assignments). Built-in roles stay.
pub async fn delete(ctx: &Ctx<'_>, name: &str) -> ServiceResult<()> {
    let role = find(ctx, name).await?;
    if role.builtin {
        return Err(ServiceError::refused("builtin_role", format!("the built-in role {name:?} cannot be deleted")));
    }
    ctx.store.delete_role(role.id).await?;
    audit::record(ctx, "admin.role.deleted", None, None, serde_json::json!({"role": role.name})).await;
    Ok(())
}

/// Gives `account` the role (idempotent).
pub async fn grant(ctx: &Ctx<'_>, account: &Account, name: &str) -> ServiceResult<()> {
    let role = find(ctx, name).await?;
    ctx.store.grant_role(account.id, role.id).await?;
    audit::record(ctx, "admin.account.role_granted", Some(account.id), None, serde_json::json!({"role": role.name}))
        .await;
    Ok(())
}

/// Takes the role from `account`. An administrator cannot take `admin` from themselves: that
/// would lock them out mid-session (another administrator can).
pub async fn revoke(ctx: &Ctx<'_>, account: &Account, name: &str) -> ServiceResult<()> {
    let role = find(ctx, name).await?;
    if role.name == ADMIN_ROLE && ctx.actor == Actor::Admin(account.id) {
        return Err(ServiceError::refused("self_lockout", "you cannot remove the admin role from your own account"));
    }
    if !ctx.store.revoke_role(account.id, role.id).await? {
        return Err(ServiceError::refused(
            "role_not_held",
            format!("{} does not have the role {}", account.username, role.name),
        ));
    }
    audit::record(ctx, "admin.account.role_revoked", Some(account.id), None, serde_json::json!({"role": role.name}))
        .await;
    Ok(())
}

/// Makes the account's roles exactly `names` (the console's checkboxes): unknown names are an
/// error before anything changes.
pub async fn set_roles(ctx: &Ctx<'_>, account: &Account, names: &[String]) -> ServiceResult<()> {
    for name in names {
        find(ctx, name).await?;
    }
    let current = ctx.store.roles_of(account.id).await?;
    for name in current.iter().filter(|r| !names.contains(r)) {
        revoke(ctx, account, name).await?;
    }
    for name in names.iter().filter(|n| !current.contains(n)) {
        grant(ctx, account, name).await?;
    }
    Ok(())
}
