//! Failed-login counters shared by every node.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::StoreError;
use latchkey_core::error::StoreResult;
use latchkey_core::model::ThrottleState;
use latchkey_core::store::ThrottleStore;
use sea_orm::QueryFilter as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, FromQueryResult as _};

use crate::entity::login_throttle;
use crate::error::DbResultExt as _;
use crate::{SeaStore, truncate, truncate_opt};

impl From<login_throttle::Model> for ThrottleState {
    fn from(m: login_throttle::Model) -> Self {
        ThrottleState {
            key: m.key,
            failures: m.failures,
            last_failure_at: m.last_failure_at,
            locked_until: m.locked_until,
        }
    }
}

#[async_trait]
impl ThrottleStore for SeaStore {
    async fn find_throttle(&self, key: &str) -> StoreResult<Option<ThrottleState>> {
        Ok(login_throttle::Entity::find_by_id(key.to_owned()).one(self.db()).await.store()?.map(Into::into))
    }

    async fn increment_throttle(&self, key: &str, now: DateTime<Utc>) -> StoreResult<ThrottleState> {
        use login_throttle::Column;
        // One statement, so the database serialises concurrent increments on the row: each caller
        // gets back the count its own increment produced. Built by hand rather than through
        // `exec_with_returning`, which sea-orm emulates on SQLite with a separate SELECT.
        let now = truncate(now);
        let stmt = Query::insert()
            .into_table(login_throttle::Entity)
            .columns([Column::Key, Column::Failures, Column::LastFailureAt])
            .values([Expr::value(key), Expr::value(1), Expr::value(now)])
            .map_err(|e| StoreError::Internal(e.to_string()))?
            .on_conflict(
                OnConflict::column(Column::Key)
                    .value(Column::Failures, Expr::col((login_throttle::Entity, Column::Failures)).add(1))
                    .value(Column::LastFailureAt, Expr::value(now))
                    .to_owned(),
            )
            .returning_all()
            .to_owned();
        let row = self
            .writer()
            .query_one(&stmt)
            .await
            .store()?
            .ok_or_else(|| StoreError::Internal("upsert returned no row".to_owned()))?;
        Ok(login_throttle::Model::from_query_result(&row, "").store()?.into())
    }

    async fn set_throttle_lock(&self, key: &str, until: Option<DateTime<Utc>>) -> StoreResult<()> {
        let update = login_throttle::ActiveModel { locked_until: Set(truncate_opt(until)), ..Default::default() };
        login_throttle::Entity::update_many()
            .set(update)
            .filter(login_throttle::Column::Key.eq(key))
            .exec(self.writer())
            .await
            .store()?;
        Ok(())
    }

    async fn claim_throttle(&self, key: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool> {
        use login_throttle::Column;
        // One conditional UPDATE: PostgreSQL re-checks the WHERE clause on the row after waiting for
        // a concurrent writer (READ COMMITTED), and SQLite serialises writers, so exactly one caller
        // sees an affected row.
        let update = login_throttle::ActiveModel { locked_until: Set(Some(truncate(until))), ..Default::default() };
        let res = login_throttle::Entity::update_many()
            .set(update)
            .filter(Column::Key.eq(key))
            .filter(Column::LockedUntil.is_not_null())
            .filter(Column::LockedUntil.lte(truncate(now)))
            .exec(self.writer())
            .await
            .store()?;
        Ok(res.rows_affected == 1)
    }

    async fn forgive_throttle(&self, key: &str) -> StoreResult<()> {
        use login_throttle::Column;
        // One UPDATE, so concurrent give-backs and increments never lose a count.
        login_throttle::Entity::update_many()
            .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
            .filter(Column::Key.eq(key))
            .filter(Column::Failures.gt(0))
            .exec(self.writer())
            .await
            .store()?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        login_throttle::Entity::delete_by_id(key.to_owned()).exec(self.writer()).await.store()?;
        Ok(())
    }
}
