//! The hot path of the endpoints that accept an access token (userinfo, introspection): the `jti`
//! record with its account, and the account's role names when asked, in one query; and a refresh
//! token with its account, for introspection.
//!
//! One `SELECT` with LEFT JOINs instead of one query per table: each query costs a round trip on
//! PostgreSQL and a hop to the SQLite worker thread, which cost more than the lookups themselves.
//! The roles are joined rather than aggregated (`string_agg` and `group_concat` differ between the
//! two databases): one row per role, the token and account columns repeated, an account without
//! roles still one row (NULL role name).

use async_trait::async_trait;
use latchkey_core::error::StoreResult;
use latchkey_core::model::{Account, RefreshToken};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::{AccessTokenWithAccount, BearerStore};
use sea_orm::{
    EntityTrait, FromQueryResult, JoinType, QueryOrder as _, QuerySelect as _, QueryTrait as _, RelationDef,
};

use crate::SeaStore;
use crate::entity::{access_token, account, account_role, refresh_token, role};
use crate::error::DbResultExt as _;
use crate::grants::{access_from, refresh_from};

/// `access_tokens.account_id = accounts.id` (relations are not declared on the entities).
fn token_account() -> RelationDef {
    access_token::Entity::belongs_to(account::Entity)
        .from(access_token::Column::AccountId)
        .to(account::Column::Id)
        .into()
}

/// `account_roles.account_id = accounts.id`, joined from `accounts` (in reverse).
fn account_grants() -> RelationDef {
    account_role::Entity::belongs_to(account::Entity)
        .from(account_role::Column::AccountId)
        .to(account::Column::Id)
        .into()
}

/// `account_roles.role_id = roles.id`.
fn grant_role() -> RelationDef {
    account_role::Entity::belongs_to(role::Entity).from(account_role::Column::RoleId).to(role::Column::Id).into()
}

/// One row of the query with roles: `select_also` prefixes the token's columns with `A_` and the
/// account's with `B_`; the role name is the one extra column.
#[derive(FromQueryResult)]
struct RoleRow {
    #[sea_orm(nested(prefix = "A_"))]
    token: access_token::Model,
    #[sea_orm(nested(prefix = "B_"))]
    account: Option<account::Model>,
    role_name: Option<String>,
}

fn assemble(
    token: access_token::Model,
    account: Option<account::Model>,
    roles: Vec<String>,
) -> StoreResult<AccessTokenWithAccount> {
    Ok(AccessTokenWithAccount { record: access_from(token)?, account: account.map(Account::from), roles })
}

#[async_trait]
impl BearerStore for SeaStore {
    async fn find_access_token_with_account(
        &self,
        jti: &str,
        with_roles: bool,
    ) -> StoreResult<Option<AccessTokenWithAccount>> {
        let select = access_token::Entity::find_by_id(jti.to_owned())
            .join(JoinType::LeftJoin, token_account())
            .select_also(account::Entity);
        if !with_roles {
            // A primary key and a many-to-one join: at most one row (and no bound LIMIT, see by_primary_key).
            let Some((token, account)) = select.all(self.db()).await.store()?.into_iter().next() else {
                return Ok(None);
            };
            return assemble(token, account, Vec::new()).map(Some);
        }
        let query = select
            .join_rev(JoinType::LeftJoin, account_grants())
            .join(JoinType::LeftJoin, grant_role())
            .column_as(role::Column::Name, "role_name")
            // The order roles_of gives: the database's collation, the same on every request.
            .order_by_asc(role::Column::Name)
            .into_query();
        let statement = self.db().get_database_backend().build(&query);
        let rows = RoleRow::find_by_statement(statement).all(self.db()).await.store()?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else { return Ok(None) };
        let roles = first.role_name.into_iter().chain(rows.filter_map(|r| r.role_name)).collect();
        assemble(first.token, first.account, roles).map(Some)
    }

    async fn find_refresh_token_with_account(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<(RefreshToken, Option<Account>)>> {
        let holder = refresh_token::Entity::belongs_to(account::Entity)
            .from(refresh_token::Column::AccountId)
            .to(account::Column::Id)
            .into();
        let rows = refresh_token::Entity::find_by_id(token_hash.as_str().to_owned())
            .join(JoinType::LeftJoin, holder)
            .select_also(account::Entity)
            .all(self.db())
            .await
            .store()?;
        let Some((token, account)) = rows.into_iter().next() else { return Ok(None) };
        Ok(Some((refresh_from(token)?, account.map(Account::from))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    /// The SQL is the same builder output on both databases: one statement, LEFT JOINs only (a
    /// token without an account, or an account without roles, still yields its row).
    #[test]
    fn one_statement_with_left_joins() {
        let select = access_token::Entity::find_by_id("j".to_owned())
            .join(JoinType::LeftJoin, token_account())
            .select_also(account::Entity)
            .join_rev(JoinType::LeftJoin, account_grants())
            .join(JoinType::LeftJoin, grant_role());
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let sql = select.clone().build(backend).to_string();
            assert_eq!(sql.matches("LEFT JOIN").count(), 3, "{sql}");
            assert!(!sql.contains("INNER JOIN") && !sql.contains("LIMIT"), "{sql}");
        }
    }
}
