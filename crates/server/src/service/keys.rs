//! Signing keys: what is published and active, and rotating now.

use chrono::{DateTime, Utc};
use latchkey_core::model::{KeyState, SigningKey};

use super::{Ctx, ServiceError, ServiceResult, audit};
use crate::keys::KeyService;

pub async fn list(ctx: &Ctx<'_>) -> ServiceResult<Vec<SigningKey>> {
    Ok(ctx.store.list_keys().await?)
}

/// When the scheduled rotation next activates a key: the oldest active key's activation plus
/// the interval (the maintenance loop acts within an hour of that).
pub fn next_rotation(keys: &[SigningKey], interval: chrono::Duration) -> Option<DateTime<Utc>> {
    keys.iter().filter(|k| k.state == KeyState::Active).filter_map(|k| k.activated_at).min().map(|t| t + interval)
}

/// Rotates now: each algorithm's published next key becomes active and a new next key is
/// published. Returns the activated kids.
pub async fn rotate(ctx: &Ctx<'_>, keys: &KeyService, interval: chrono::Duration) -> ServiceResult<Vec<String>> {
    let activated =
        keys.rotate(ctx.store, interval, ctx.now(), true).await.map_err(|e| ServiceError::Internal(e.to_string()))?;
    audit::record(ctx, "admin.keys.rotated", None, None, serde_json::json!({"activated": activated})).await;
    Ok(activated)
}
