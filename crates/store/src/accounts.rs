//! Accounts and roles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::StoreError;
use latchkey_core::account::email_key;
use latchkey_core::error::StoreResult;
use latchkey_core::model::{Account, AccountId, AccountQuery, NewAccount, Role, RoleId};
use latchkey_core::store::{AccountStore, RoleStore};
use sea_orm::sea_query::{LikeExpr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _};
use sea_orm::{DbErr, QueryFilter as _, QueryOrder as _, QuerySelect as _, TransactionTrait as _};

use crate::entity::{account, account_role, role};
use crate::error::DbResultExt as _;
use crate::{SeaStore, by_primary_key, page_limit, truncate};

impl From<account::Model> for Account {
    fn from(m: account::Model) -> Self {
        Account {
            id: AccountId(m.id),
            username: m.username,
            email: m.email,
            email_verified: m.email_verified,
            password_hash: m.password_hash,
            display_name: m.display_name,
            disabled: m.disabled,
            password_change_required: m.password_change_required,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<role::Model> for Role {
    fn from(m: role::Model) -> Self {
        Role { id: RoleId(m.id), name: m.name, description: m.description, builtin: m.builtin }
    }
}

/// The lowercase form the admin search matches against.
fn display_name_key(display_name: Option<&str>) -> Option<String> {
    display_name.map(str::to_lowercase)
}

/// `%term%` for LIKE, with the term lowercased (every searched column is stored lowercase, so the
/// match is case-insensitive on both databases) and its own `%`, `_` and `\` escaped.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn search_condition(search: Option<&str>) -> Condition {
    match search.map(str::trim).filter(|s| !s.is_empty()) {
        None => Condition::all(),
        Some(term) => {
            let pattern = like_pattern(term);
            let like = || LikeExpr::new(pattern.clone()).escape('\\');
            Condition::any()
                .add(account::Column::Username.like(like()))
                .add(account::Column::EmailKey.like(like()))
                .add(account::Column::DisplayNameKey.like(like()))
        }
    }
}

/// `Ok(())` when a row was changed, `NotFound(what)` when none matched.
pub(crate) fn changed(rows: u64, what: &str) -> StoreResult<()> {
    if rows == 0 { Err(StoreError::NotFound(what.to_owned())) } else { Ok(()) }
}

#[async_trait]
impl AccountStore for SeaStore {
    async fn insert_account_with_roles(
        &self,
        new: NewAccount,
        roles: &[RoleId],
        password_change_required: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let now = truncate(now);
        let model = account::Model {
            id: new.id.0,
            email_key: email_key(&new.email),
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            password_hash: new.password_hash,
            display_name_key: display_name_key(new.display_name.as_deref()),
            display_name: new.display_name,
            disabled: false,
            password_change_required,
            created_at: now,
            updated_at: now,
        };
        let active: account::ActiveModel = model.clone().into();
        if roles.is_empty() {
            // One statement is its own transaction: no BEGIN/COMMIT round trips for a sign-up.
            account::Entity::insert(active).exec_without_returning(self.writer()).await.store()?;
            return Ok(model.into());
        }
        let txn = self.writer().begin().await.store()?;
        account::Entity::insert(active).exec_without_returning(&txn).await.store()?;
        let rows = roles.iter().map(|r| account_role::ActiveModel { account_id: Set(model.id), role_id: Set(r.0) });
        // Dropping `txn` without a commit rolls the account back.
        account_role::Entity::insert_many(rows).exec_without_returning(&txn).await.map_err(|e| {
            match crate::error::map_db_err(e) {
                StoreError::NotFound(_) => StoreError::NotFound("role".to_owned()),
                other => other,
            }
        })?;
        txn.commit().await.store()?;
        Ok(model.into())
    }

    async fn find_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        Ok(by_primary_key(account::Entity::find_by_id(id.0), self.db()).await.store()?.map(Into::into))
    }

    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>> {
        let found = account::Entity::find().filter(account::Column::Username.eq(username)).one(self.db()).await;
        Ok(found.store()?.map(Into::into))
    }

    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let found = account::Entity::find().filter(account::Column::EmailKey.eq(email_key(email))).one(self.db()).await;
        Ok(found.store()?.map(Into::into))
    }

    async fn list_accounts(&self, query: &AccountQuery) -> StoreResult<Vec<Account>> {
        // Ordered by the unique username index, so a page of matches stops early instead of sorting every row.
        let rows = account::Entity::find()
            .filter(search_condition(query.search.as_deref()))
            .order_by_asc(account::Column::Username)
            .limit(page_limit(query.limit))
            .offset(query.offset)
            .all(self.db())
            .await
            .store()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn count_accounts(&self, search: Option<&str>) -> StoreResult<u64> {
        account::Entity::find().filter(search_condition(search)).count(self.db()).await.store()
    }

    async fn update_password_hash(&self, id: AccountId, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let update = account::ActiveModel {
            password_hash: Set(Some(hash.to_owned())),
            updated_at: Set(truncate(now)),
            ..Default::default()
        };
        let res = account::Entity::update_many().set(update).filter(account::Column::Id.eq(id.0)).exec(self.writer());
        changed(res.await.store()?.rows_affected, "account")
    }

    async fn update_profile(
        &self,
        id: AccountId,
        email: &str,
        email_verified: bool,
        display_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let update = account::ActiveModel {
            email: Set(email.to_owned()),
            email_key: Set(email_key(email)),
            email_verified: Set(email_verified),
            display_name: Set(display_name.map(str::to_owned)),
            display_name_key: Set(display_name_key(display_name)),
            updated_at: Set(truncate(now)),
            ..Default::default()
        };
        let res = account::Entity::update_many().set(update).filter(account::Column::Id.eq(id.0)).exec(self.writer());
        changed(res.await.store()?.rows_affected, "account")
    }

    async fn set_account_disabled(&self, id: AccountId, disabled: bool, now: DateTime<Utc>) -> StoreResult<()> {
        let update =
            account::ActiveModel { disabled: Set(disabled), updated_at: Set(truncate(now)), ..Default::default() };
        let res = account::Entity::update_many().set(update).filter(account::Column::Id.eq(id.0)).exec(self.writer());
        changed(res.await.store()?.rows_affected, "account")
    }

    async fn set_password_change_required(&self, id: AccountId, required: bool, now: DateTime<Utc>) -> StoreResult<()> {
        let update = account::ActiveModel {
            password_change_required: Set(required),
            updated_at: Set(truncate(now)),
            ..Default::default()
        };
        let res = account::Entity::update_many().set(update).filter(account::Column::Id.eq(id.0)).exec(self.writer());
        changed(res.await.store()?.rows_affected, "account")
    }

    async fn delete_account(&self, id: AccountId) -> StoreResult<bool> {
        // Roles, sessions, consents, codes and tokens go with it: ON DELETE CASCADE in the schema.
        let res = account::Entity::delete_by_id(id.0).exec(self.writer()).await.store()?;
        Ok(res.rows_affected > 0)
    }
}

#[async_trait]
impl RoleStore for SeaStore {
    async fn insert_role(&self, name: &str, description: Option<&str>) -> StoreResult<Role> {
        let model = role::Model {
            id: RoleId::new().0,
            name: name.to_owned(),
            description: description.map(str::to_owned),
            builtin: false,
        };
        let active: role::ActiveModel = model.clone().into();
        role::Entity::insert(active).exec_without_returning(self.writer()).await.store()?;
        Ok(model.into())
    }

    async fn find_role_by_name(&self, name: &str) -> StoreResult<Option<Role>> {
        let found = role::Entity::find().filter(role::Column::Name.eq(name)).one(self.db()).await;
        Ok(found.store()?.map(Into::into))
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let rows = role::Entity::find().order_by_asc(role::Column::Name).all(self.db()).await.store()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Built-in roles are never deleted: the answer is `false`, as for a role that does not exist.
    async fn delete_role(&self, id: RoleId) -> StoreResult<bool> {
        let res = role::Entity::delete_many()
            .filter(role::Column::Id.eq(id.0))
            .filter(role::Column::Builtin.eq(false))
            .exec(self.writer())
            .await
            .store()?;
        Ok(res.rows_affected > 0)
    }

    async fn grant_role(&self, account: AccountId, role: RoleId) -> StoreResult<()> {
        let row = account_role::ActiveModel { account_id: Set(account.0), role_id: Set(role.0) };
        let insert = account_role::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([account_role::Column::AccountId, account_role::Column::RoleId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.writer())
            .await;
        match insert {
            // Already granted: DO NOTHING inserted no row, which is what the caller wanted.
            Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
            Err(e) => Err(match crate::error::map_db_err(e) {
                StoreError::NotFound(_) => StoreError::NotFound("account or role".to_owned()),
                other => other,
            }),
        }
    }

    async fn revoke_role(&self, account: AccountId, role: RoleId) -> StoreResult<bool> {
        let res = account_role::Entity::delete_by_id((account.0, role.0)).exec(self.writer()).await.store()?;
        Ok(res.rows_affected > 0)
    }

    async fn roles_of(&self, account: AccountId) -> StoreResult<Vec<String>> {
        let granted = account_role::Entity::find()
            .select_only()
            .column(account_role::Column::RoleId)
            .filter(account_role::Column::AccountId.eq(account.0))
            .into_tuple::<uuid::Uuid>()
            .all(self.db())
            .await
            .store()?;
        if granted.is_empty() {
            return Ok(Vec::new());
        }
        let names = role::Entity::find()
            .select_only()
            .column(role::Column::Name)
            .filter(role::Column::Id.is_in(granted))
            .order_by_asc(role::Column::Name)
            .into_tuple::<String>()
            .all(self.db())
            .await
            .store()?;
        Ok(names)
    }

    /// Two queries whatever the page size: the page's grants, then the role names (a short table).
    async fn roles_of_accounts(
        &self,
        accounts: &[AccountId],
    ) -> StoreResult<std::collections::HashMap<AccountId, Vec<String>>> {
        let mut out: std::collections::HashMap<AccountId, Vec<String>> = std::collections::HashMap::new();
        if accounts.is_empty() {
            return Ok(out);
        }
        let granted = account_role::Entity::find()
            .filter(account_role::Column::AccountId.is_in(accounts.iter().map(|a| a.0)))
            .all(self.db())
            .await
            .store()?;
        if granted.is_empty() {
            return Ok(out);
        }
        let names: std::collections::HashMap<uuid::Uuid, String> =
            role::Entity::find().all(self.db()).await.store()?.into_iter().map(|r| (r.id, r.name)).collect();
        for grant in granted {
            if let Some(name) = names.get(&grant.role_id) {
                out.entry(AccountId(grant.account_id)).or_default().push(name.clone());
            }
        }
        for roles in out.values_mut() {
            roles.sort();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards_and_lowercases() {
        assert_eq!(like_pattern("Ali"), "%ali%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
