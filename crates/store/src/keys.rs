//! Signing keys and their rotation states.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::StoreError;
use latchkey_core::error::StoreResult;
use latchkey_core::model::{KeyState, SigningKey};
use latchkey_core::store::KeyStore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
use sea_orm::{QuerySelect as _, SqliteTransactionMode, TransactionOptions};
use sea_orm::{TransactionTrait as _, sea_query::SimpleExpr};

use crate::entity::signing_key;
use crate::error::DbResultExt as _;
use crate::{SeaStore, truncate, truncate_opt};

fn key_from(m: signing_key::Model) -> StoreResult<SigningKey> {
    Ok(SigningKey {
        state: KeyState::parse(&m.state)
            .ok_or_else(|| StoreError::Internal(format!("unknown signing key state {:?}", m.state)))?,
        kid: m.kid,
        algorithm: m.algorithm,
        encrypted_private_key: m.encrypted_private_key,
        public_jwk: m.public_jwk,
        created_at: m.created_at,
        activated_at: m.activated_at,
        retired_at: m.retired_at,
    })
}

fn state(s: KeyState) -> SimpleExpr {
    Expr::value(s.as_str())
}

#[async_trait]
impl KeyStore for SeaStore {
    async fn insert_key(&self, k: SigningKey) -> StoreResult<()> {
        let row = signing_key::ActiveModel {
            kid: Set(k.kid),
            algorithm: Set(k.algorithm),
            encrypted_private_key: Set(k.encrypted_private_key),
            public_jwk: Set(k.public_jwk),
            state: Set(k.state.as_str().to_owned()),
            created_at: Set(truncate(k.created_at)),
            activated_at: Set(truncate_opt(k.activated_at)),
            retired_at: Set(truncate_opt(k.retired_at)),
        };
        signing_key::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let rows = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Kid)
            .all(self.db())
            .await
            .store()?;
        rows.into_iter().map(key_from).collect()
    }

    async fn activate_key(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let now = truncate(now);
        // IMMEDIATE takes SQLite's write lock up front, so the read below cannot go stale under us.
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self.writer().begin_with_options(options).await.store()?;
        let key = signing_key::Entity::find_by_id(kid.to_owned())
            .one(&txn)
            .await
            .store()?
            .ok_or_else(|| StoreError::NotFound("signing key".to_owned()))?;
        // PostgreSQL: lock every key of the algorithm, so two concurrent activations run one after
        // the other and the second retires the first's key instead of leaving two active ones.
        signing_key::Entity::find()
            .filter(signing_key::Column::Algorithm.eq(key.algorithm.as_str()))
            .lock_exclusive()
            .all(&txn)
            .await
            .store()?;
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::State, state(KeyState::Retired))
            .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
            .filter(signing_key::Column::Algorithm.eq(key.algorithm.as_str()))
            .filter(signing_key::Column::State.eq(KeyState::Active.as_str()))
            .filter(signing_key::Column::Kid.ne(kid))
            .exec(&txn)
            .await
            .store()?;
        if key.state != KeyState::Active.as_str() {
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::State, state(KeyState::Active))
                .col_expr(signing_key::Column::ActivatedAt, Expr::value(now))
                .col_expr(signing_key::Column::RetiredAt, Expr::value(Option::<DateTime<Utc>>::None))
                .filter(signing_key::Column::Kid.eq(kid))
                .exec(&txn)
                .await
                .store()?;
        }
        txn.commit().await.store()
    }

    async fn delete_retired_keys(&self, retired_before: DateTime<Utc>) -> StoreResult<u64> {
        let res = signing_key::Entity::delete_many()
            .filter(signing_key::Column::State.eq(KeyState::Retired.as_str()))
            .filter(signing_key::Column::RetiredAt.lt(truncate(retired_before)))
            .exec(self.writer())
            .await
            .store()?;
        Ok(res.rows_affected)
    }
}
