//! The audit log: append and read, newest first.

use async_trait::async_trait;
use latchkey_core::StoreError;
use latchkey_core::error::StoreResult;
use latchkey_core::model::{AccountId, AuditEvent, AuditOutcome, AuditQuery, ClientId};
use latchkey_core::store::AuditStore;
use sea_orm::{ActiveValue::Set, ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _};
use sea_orm::{QueryFilter as _, QueryOrder as _, QuerySelect as _};

use crate::entity::audit_event;
use crate::error::DbResultExt as _;
use crate::{SeaStore, page_limit, truncate};

fn event_from(m: audit_event::Model) -> StoreResult<AuditEvent> {
    let outcome = match m.outcome.as_str() {
        "success" => AuditOutcome::Success,
        "failure" => AuditOutcome::Failure,
        other => return Err(StoreError::Internal(format!("unknown audit outcome {other:?}"))),
    };
    Ok(AuditEvent {
        id: m.id,
        at: m.at,
        event_type: m.event_type,
        account_id: m.account_id.map(AccountId),
        actor_id: m.actor_id.map(AccountId),
        client_id: m.client_id.map(ClientId),
        ip: m.ip,
        user_agent: m.user_agent,
        outcome,
        detail: m.detail,
    })
}

fn filter(q: &AuditQuery) -> Condition {
    let mut c = Condition::all();
    if let Some(account) = q.account_id {
        c = c.add(audit_event::Column::AccountId.eq(account.0));
    }
    if let Some(client) = &q.client_id {
        c = c.add(audit_event::Column::ClientId.eq(client.0.as_str()));
    }
    if let Some(event_type) = &q.event_type {
        c = c.add(audit_event::Column::EventType.eq(event_type.as_str()));
    }
    if let Some(from) = q.from {
        c = c.add(audit_event::Column::At.gte(truncate(from)));
    }
    if let Some(to) = q.to {
        c = c.add(audit_event::Column::At.lt(truncate(to)));
    }
    c
}

#[async_trait]
impl AuditStore for SeaStore {
    async fn insert_audit_event(&self, e: AuditEvent) -> StoreResult<()> {
        let row = audit_event::ActiveModel {
            id: Set(e.id),
            at: Set(truncate(e.at)),
            event_type: Set(e.event_type),
            account_id: Set(e.account_id.map(|a| a.0)),
            actor_id: Set(e.actor_id.map(|a| a.0)),
            client_id: Set(e.client_id.map(|c| c.0)),
            ip: Set(e.ip),
            user_agent: Set(e.user_agent),
            outcome: Set(e.outcome.as_str().to_owned()),
            detail: Set(e.detail),
        };
        audit_event::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    /// `from` is inclusive, `to` exclusive; a limit of 0 means no limit.
    async fn list_audit_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let rows = audit_event::Entity::find()
            .filter(filter(q))
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(page_limit(q.limit))
            .offset(q.offset)
            .all(self.db())
            .await
            .store()?;
        rows.into_iter().map(event_from).collect()
    }

    /// Counts every match, ignoring `limit` and `offset`.
    async fn count_audit_events(&self, q: &AuditQuery) -> StoreResult<u64> {
        audit_event::Entity::find().filter(filter(q)).count(self.db()).await.store()
    }
}
