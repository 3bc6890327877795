//! One-time setup tokens (the first-administrator link) and the question that decides whether one
//! is needed: does any account have a given role?
//!
//! These are inherent methods of [`SeaStore`] rather than a `latchkey_core::store` trait: only
//! start-up and the setup page use them, and no rule in core needs them.

use chrono::{DateTime, Utc};
use latchkey_core::error::StoreResult;
use latchkey_core::secret::TokenHash;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};

use crate::entity::{account_role, role};
use crate::error::DbResultExt as _;
use crate::{SeaStore, truncate};

pub(crate) mod setup_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "setup_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What a presented setup token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupTokenState {
    /// Unused and not expired (for [`SeaStore::consume_setup_token`]: consumed now, by this caller).
    Valid,
    Used,
    Expired,
    Missing,
}

impl SeaStore {
    pub async fn insert_setup_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let row = setup_token::ActiveModel {
            token_hash: Set(hash.as_str().to_owned()),
            created_at: Set(truncate(now)),
            expires_at: Set(truncate(expires_at)),
            used_at: Set(None),
        };
        setup_token::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    /// The token's state, without consuming it (to show the form or a clear error).
    pub async fn find_setup_token(&self, hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<SetupTokenState> {
        let row = setup_token::Entity::find_by_id(hash.as_str().to_owned()).one(self.db()).await.store()?;
        Ok(match row {
            None => SetupTokenState::Missing,
            Some(r) if r.used_at.is_some() => SetupTokenState::Used,
            Some(r) if r.expires_at <= truncate(now) => SetupTokenState::Expired,
            Some(_) => SetupTokenState::Valid,
        })
    }

    /// Atomically marks the token used if it is unused and unexpired: one conditional UPDATE, so
    /// of concurrent callers (on any node) exactly one gets `Valid`; the others learn why not.
    pub async fn consume_setup_token(&self, hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<SetupTokenState> {
        let now = truncate(now);
        let res = setup_token::Entity::update_many()
            .col_expr(setup_token::Column::UsedAt, Expr::value(now))
            .filter(setup_token::Column::TokenHash.eq(hash.as_str()))
            .filter(setup_token::Column::UsedAt.is_null())
            .filter(setup_token::Column::ExpiresAt.gt(now))
            .exec(self.writer())
            .await
            .store()?;
        if res.rows_affected == 1 {
            return Ok(SetupTokenState::Valid);
        }
        match self.find_setup_token(hash, now).await? {
            // Lost a race between the UPDATE and this read: someone else used it.
            SetupTokenState::Valid => Ok(SetupTokenState::Used),
            other => Ok(other),
        }
    }

    /// Deletes setup tokens that expired before `before` (used or not).
    pub async fn purge_setup_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let res = setup_token::Entity::delete_many()
            .filter(setup_token::Column::ExpiresAt.lt(truncate(before)))
            .exec(self.writer())
            .await
            .store()?;
        Ok(res.rows_affected)
    }

    /// How many accounts have the role named `name` (0 when there is no such role).
    pub async fn count_role_members(&self, name: &str) -> StoreResult<u64> {
        let Some(found) = role::Entity::find().filter(role::Column::Name.eq(name)).one(self.db()).await.store()? else {
            return Ok(0);
        };
        account_role::Entity::find().filter(account_role::Column::RoleId.eq(found.id)).count(self.db()).await.store()
    }
}
