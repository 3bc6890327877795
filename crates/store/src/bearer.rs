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
use std::sync::OnceLock;

use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DbBackend, DbErr, EntityTrait, JoinType, QueryFilter as _, QueryOrder as _,
    QueryResult, QuerySelect as _, QueryTrait as _, RelationDef, Statement,
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

/// The selected columns, in the order [`decode`] reads them by position.
const TOKEN_COLUMNS: [access_token::Column; 8] = [
    access_token::Column::Jti,
    access_token::Column::ClientId,
    access_token::Column::AccountId,
    access_token::Column::FamilyId,
    access_token::Column::Scopes,
    access_token::Column::CreatedAt,
    access_token::Column::ExpiresAt,
    access_token::Column::RevokedAt,
];
const ACCOUNT_COLUMNS: [account::Column; 12] = [
    account::Column::Id,
    account::Column::Username,
    account::Column::Email,
    account::Column::EmailKey,
    account::Column::EmailVerified,
    account::Column::PasswordHash,
    account::Column::DisplayName,
    account::Column::DisplayNameKey,
    account::Column::Disabled,
    account::Column::PasswordChangeRequired,
    account::Column::CreatedAt,
    account::Column::UpdatedAt,
];
/// Position of the role name, after the token's and the account's columns.
const ROLE_NAME: usize = TOKEN_COLUMNS.len() + ACCOUNT_COLUMNS.len();

/// The query, with `jti` as its one parameter: LEFT JOINs, so a token without an account, or an
/// account without roles, still yields its row; no LIMIT (see `by_primary_key`).
fn token_query(with_roles: bool) -> SelectStatement {
    let select = access_token::Entity::find()
        .select_only()
        .columns(TOKEN_COLUMNS)
        .columns(ACCOUNT_COLUMNS)
        .join(JoinType::LeftJoin, token_account())
        .filter(access_token::Column::Jti.eq(""));
    if !with_roles {
        return select.into_query();
    }
    select
        .column(role::Column::Name)
        .join_rev(JoinType::LeftJoin, account_grants())
        .join(JoinType::LeftJoin, grant_role())
        // The order roles_of gives: the database's collation, the same on every request.
        .order_by_asc(role::Column::Name)
        .into_query()
}

/// The SQL of [`token_query`] without and with roles, built once per database kind: the builder's
/// output never changes, and building it (and naming every column with a prefix to read it back)
/// cost a third of an introspection request.
fn token_sql(backend: DbBackend, with_roles: bool) -> &'static str {
    static SQL: [OnceLock<[String; 2]>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = usize::from(backend == DbBackend::Postgres);
    let built = SQL[slot].get_or_init(|| [false, true].map(|roles| backend.build(&token_query(roles)).sql));
    &built[usize::from(with_roles)]
}

/// One row, read by position: the token, its account (absent when the LEFT JOIN found none), and
/// the role name when the query has one. Each value goes through the same decoding as the entities'.
fn decode(
    row: &QueryResult,
    with_roles: bool,
) -> Result<(access_token::Model, Option<account::Model>, Option<String>), DbErr> {
    let token = access_token::Model {
        jti: row.try_get_by_index(0)?,
        client_id: row.try_get_by_index(1)?,
        account_id: row.try_get_by_index(2)?,
        family_id: row.try_get_by_index(3)?,
        scopes: row.try_get_by_index(4)?,
        created_at: row.try_get_by_index(5)?,
        expires_at: row.try_get_by_index(6)?,
        revoked_at: row.try_get_by_index(7)?,
    };
    let a = TOKEN_COLUMNS.len();
    let account = match row.try_get_by_index::<Option<uuid::Uuid>>(a)? {
        None => None,
        Some(id) => Some(account::Model {
            id,
            username: row.try_get_by_index(a + 1)?,
            email: row.try_get_by_index(a + 2)?,
            email_key: row.try_get_by_index(a + 3)?,
            email_verified: row.try_get_by_index(a + 4)?,
            password_hash: row.try_get_by_index(a + 5)?,
            display_name: row.try_get_by_index(a + 6)?,
            display_name_key: row.try_get_by_index(a + 7)?,
            disabled: row.try_get_by_index(a + 8)?,
            password_change_required: row.try_get_by_index(a + 9)?,
            created_at: row.try_get_by_index(a + 10)?,
            updated_at: row.try_get_by_index(a + 11)?,
        }),
    };
    let role = if with_roles { row.try_get_by_index(ROLE_NAME)? } else { None };
    Ok((token, account, role))
}

#[async_trait]
impl BearerStore for SeaStore {
    async fn find_access_token_with_account(
        &self,
        jti: &str,
        with_roles: bool,
    ) -> StoreResult<Option<AccessTokenWithAccount>> {
        let backend = self.db().get_database_backend();
        let statement = Statement::from_sql_and_values(backend, token_sql(backend, with_roles), [jti.into()]);
        let rows = self.db().query_all_raw(statement).await.store()?;
        let mut rows = rows.iter().map(|row| decode(row, with_roles));
        let Some((token, account, role)) = rows.next().transpose().store()? else { return Ok(None) };
        // One row per role (the token and account repeated), or one row with no role.
        let mut roles: Vec<String> = role.into_iter().collect();
        for row in rows {
            roles.extend(row.store()?.2);
        }
        Ok(Some(AccessTokenWithAccount { record: access_from(token)?, account: account.map(Account::from), roles }))
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

    /// The cached SQL: LEFT JOINs only (a token without an account, or an account without roles,
    /// still yields its row), the `jti` as its only parameter, and no LIMIT.
    #[test]
    fn cached_statements_take_the_jti_alone() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for (with_roles, joins) in [(false, 1), (true, 3)] {
                let sql = token_sql(backend, with_roles);
                assert_eq!(sql.matches("LEFT JOIN").count(), joins, "{sql}");
                assert!(!sql.contains("INNER JOIN") && !sql.contains("LIMIT"), "{sql}");
                let params =
                    if backend == DbBackend::Postgres { sql.matches('$').count() } else { sql.matches('?').count() };
                assert_eq!(params, 1, "{sql}");
                assert_eq!(sql, backend.build(&token_query(with_roles)).sql, "built once, the same");
            }
        }
    }
}
