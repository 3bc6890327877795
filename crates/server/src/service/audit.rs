//! The audit log as the administrators see it, and the one function every admin action records
//! itself with.

use chrono::{DateTime, Duration, Utc};
use latchkey_core::model::{AccountId, AuditEvent, AuditOutcome, AuditQuery, ClientId};

use super::{Ctx, Page, ServiceResult, page_size};

/// Records an administrative action: `event_type` (`admin.account.disabled`, ...), its target,
/// and who did it (`actor_id` for a person; the actor's label and the surface in `detail`). A
/// failure to write is logged loudly but does not undo the action, which already happened.
pub async fn record(
    ctx: &Ctx<'_>,
    event_type: &str,
    account: Option<AccountId>,
    client: Option<ClientId>,
    detail: serde_json::Value,
) {
    let mut detail = detail;
    if !detail.is_object() {
        detail = serde_json::json!({});
    }
    if let Some(map) = detail.as_object_mut() {
        map.insert("actor".into(), serde_json::json!(ctx.actor.label()));
        map.insert("via".into(), serde_json::json!(ctx.via));
    }
    let event = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: ctx.now(),
        event_type: event_type.to_owned(),
        account_id: account,
        actor_id: ctx.actor.account_id(),
        client_id: client,
        ip: ctx.meta.ip.clone(),
        user_agent: ctx.meta.user_agent.clone().or_else(|| (ctx.via == "cli").then(|| "latchkey-cli".to_owned())),
        outcome: AuditOutcome::Success,
        detail,
    };
    if let Err(err) = ctx.store.insert_audit_event(event).await {
        tracing::error!(error = %err, event_type, "audit event could not be written");
    }
}

/// A filter on the audit log, as the console and the API take it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub account_id: Option<AccountId>,
    pub client_id: Option<ClientId>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

pub async fn list(ctx: &Ctx<'_>, filter: AuditFilter) -> ServiceResult<Page<AuditEvent>> {
    let limit = page_size(filter.limit);
    let offset = filter.offset.unwrap_or(0);
    let mut query = AuditQuery {
        account_id: filter.account_id,
        client_id: filter.client_id,
        event_type: filter.event_type.filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_owned()),
        from: filter.from,
        to: filter.to,
        limit,
        offset,
    };
    let items = ctx.store.list_audit_events(&query).await?;
    query.limit = 0;
    query.offset = 0;
    let total = ctx.store.count_audit_events(&query).await?;
    Ok(Page { items, total, limit, offset })
}

/// Successful and failed sign-ins in the last 24 hours.
pub async fn sign_ins_last_day(ctx: &Ctx<'_>) -> ServiceResult<(u64, u64)> {
    let now = ctx.now();
    let count = |event_type: &str| AuditQuery {
        event_type: Some(event_type.to_owned()),
        from: Some(now - Duration::hours(24)),
        ..AuditQuery::default()
    };
    let ok = ctx.store.count_audit_events(&count("login.success")).await?;
    let failed = ctx.store.count_audit_events(&count("login.failure")).await?;
    Ok((ok, failed))
}
