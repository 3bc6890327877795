//! Server-side sign-in sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::error::StoreResult;
use latchkey_core::model::{AccountId, Session, SessionId};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::SessionStore;
use sea_orm::{ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _};
use sea_orm::{QueryFilter as _, QueryOrder as _};

use crate::accounts::changed;
use crate::entity::session;
use crate::error::DbResultExt as _;
use crate::{SeaStore, truncate};

impl From<session::Model> for Session {
    fn from(m: session::Model) -> Self {
        Session {
            id: SessionId(m.id),
            secret_hash: TokenHash::from_stored(m.secret_hash),
            account_id: AccountId(m.account_id),
            created_at: m.created_at,
            last_seen_at: m.last_seen_at,
            auth_time: m.auth_time,
            expires_at: m.expires_at,
            remember_me: m.remember_me,
            user_agent: m.user_agent,
            client_ip: m.client_ip,
        }
    }
}

#[async_trait]
impl SessionStore for SeaStore {
    async fn insert_session(&self, s: Session) -> StoreResult<()> {
        let row = session::ActiveModel {
            id: Set(s.id.0),
            secret_hash: Set(s.secret_hash.as_str().to_owned()),
            account_id: Set(s.account_id.0),
            created_at: Set(truncate(s.created_at)),
            last_seen_at: Set(truncate(s.last_seen_at)),
            auth_time: Set(truncate(s.auth_time)),
            expires_at: Set(truncate(s.expires_at)),
            remember_me: Set(s.remember_me),
            user_agent: Set(s.user_agent),
            client_ip: Set(s.client_ip),
        };
        session::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    async fn find_session_by_secret(&self, secret_hash: &TokenHash) -> StoreResult<Option<Session>> {
        let found =
            session::Entity::find().filter(session::Column::SecretHash.eq(secret_hash.as_str())).one(self.db()).await;
        Ok(found.store()?.map(Into::into))
    }

    async fn find_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(session::Entity::find_by_id(id.0).one(self.db()).await.store()?.map(Into::into))
    }

    async fn touch_session(&self, id: SessionId, last_seen_at: DateTime<Utc>) -> StoreResult<()> {
        let update = session::ActiveModel { last_seen_at: Set(truncate(last_seen_at)), ..Default::default() };
        let res = session::Entity::update_many().set(update).filter(session::Column::Id.eq(id.0)).exec(self.writer());
        changed(res.await.store()?.rows_affected, "session")
    }

    async fn delete_session(&self, id: SessionId) -> StoreResult<bool> {
        Ok(session::Entity::delete_by_id(id.0).exec(self.writer()).await.store()?.rows_affected > 0)
    }

    async fn list_sessions_of(&self, account: AccountId) -> StoreResult<Vec<Session>> {
        let rows = session::Entity::find()
            .filter(session::Column::AccountId.eq(account.0))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(self.db())
            .await
            .store()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_sessions_of(&self, account: AccountId, keep: Option<SessionId>) -> StoreResult<u64> {
        let mut delete = session::Entity::delete_many().filter(session::Column::AccountId.eq(account.0));
        if let Some(keep) = keep {
            delete = delete.filter(session::Column::Id.ne(keep.0));
        }
        Ok(delete.exec(self.writer()).await.store()?.rows_affected)
    }

    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
        remember_me_idle_cutoff: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let expired = Condition::any()
            .add(session::Column::ExpiresAt.lte(truncate(now)))
            .add(
                Condition::all()
                    .add(session::Column::RememberMe.eq(false))
                    .add(session::Column::LastSeenAt.lt(truncate(idle_cutoff))),
            )
            .add(
                Condition::all()
                    .add(session::Column::RememberMe.eq(true))
                    .add(session::Column::LastSeenAt.lt(truncate(remember_me_idle_cutoff))),
            );
        Ok(session::Entity::delete_many().filter(expired).exec(self.writer()).await.store()?.rows_affected)
    }

    async fn count_active_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        session::Entity::find().filter(session::Column::ExpiresAt.gt(truncate(now))).count(self.db()).await.store()
    }
}
