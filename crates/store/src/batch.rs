//! Group commit of access-token records.
//!
//! Every access token is recorded before it is handed out (its `jti` makes revocation and
//! introspection exact), so under load the token endpoint is one `INSERT` per request. On
//! PostgreSQL each of those is a round trip, a transaction and a commit in a backend process that
//! shares the cores with us; on SQLite it is one transaction on the single writing connection.
//! Inserting the records that arrive while a write is in progress as one multi-row `INSERT`, in
//! one transaction, costs about as much as inserting one.
//!
//! No request is answered before its own row is committed: the batch only changes how many rows a
//! commit carries, not when a caller learns that its row is stored. Nothing waits in a timer: the
//! first caller to find no write in progress writes what is pending at once (a lone request pays
//! nothing extra), and whoever arrives meanwhile is carried by the next write. So the rule "a
//! token nobody can revoke or introspect must not exist" holds as before, on any number of nodes.
//!
//! A batch carries a power of two of rows (the rest wait for the next write, which starts at once).
//! Each row count is its own SQL text, and a connection keeps every statement it prepared (sqlx's
//! statement cache, 100 per connection): on SQLite those are compiled programs in our own memory,
//! on PostgreSQL their descriptions. With any count from 1 to 256, the server kept about 11 MiB more
//! after a benchmark run, for good, on either database (bench/results/run-2026-12-07-batch-statements.md).
//! Powers of two make 9 texts at most, and a write still takes at least half of what is waiting.
//!
//! One bad row (a client deleted in the meantime: a foreign-key violation) must not fail the rest
//! of its batch, so when a multi-row insert fails, its rows are inserted one by one and each
//! caller gets its own row's answer.

use std::sync::{Arc, Mutex, PoisonError};

use latchkey_core::StoreError;
use latchkey_core::error::StoreResult;
use sea_orm::{DatabaseConnection, EntityTrait as _};
use tokio::sync::oneshot;

use crate::entity::access_token;
use crate::error::DbResultExt as _;

/// Most rows in one `INSERT` (8 parameters each: far below SQLite's and PostgreSQL's limits); a
/// power of two, like every batch ([`batch_len`]).
const MAX_BATCH: usize = 256;

/// How many of `pending` rows the next write carries: the largest power of two not above either.
fn batch_len(pending: usize) -> usize {
    pending.min(MAX_BATCH).checked_ilog2().map_or(0, |log| 1 << log)
}

type Reply = oneshot::Sender<StoreResult<()>>;

/// The pending access-token rows of one store (shared by its clones) and the turn to write them.
pub(crate) struct AccessTokenWrites {
    writer: DatabaseConnection,
    pending: Mutex<Vec<(access_token::ActiveModel, Reply)>>,
    /// Held by the one caller writing a batch; the others queue on it (in arrival order).
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AccessTokenWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenWrites").finish_non_exhaustive()
    }
}

impl AccessTokenWrites {
    pub(crate) fn new(writer: DatabaseConnection) -> Self {
        Self { writer, pending: Mutex::new(Vec::new()), turn: Arc::new(tokio::sync::Mutex::new(())) }
    }

    /// Inserts `row`, alone or with the rows of concurrent callers; returns once it is committed
    /// (or failed).
    pub(crate) async fn insert(&self, row: access_token::ActiveModel) -> StoreResult<()> {
        let (reply, mut answer) = oneshot::channel();
        self.lock_pending().push((row, reply));
        loop {
            let turn = Arc::clone(&self.turn).lock_owned().await;
            // The caller before us may have written our row with its own.
            if let Some(result) = answered(&mut answer) {
                return result;
            }
            let batch = {
                let mut pending = self.lock_pending();
                let n = batch_len(pending.len());
                pending.drain(..n).collect::<Vec<_>>()
            };
            // The write runs as a task of its own, holding the turn: if this caller goes away
            // (its client disconnected), the rows of the others are still written and answered.
            let writer = self.writer.clone();
            let _ = tokio::spawn(async move {
                write(&writer, batch).await;
                drop(turn);
            })
            .await;
            // Our row was in that batch unless it was past the batch's length: then, next turn.
            if let Some(result) = answered(&mut answer) {
                return result;
            }
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(access_token::ActiveModel, Reply)>> {
        // The guarded code only pushes and drains; a panic elsewhere cannot leave it half-done.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `Some` once our row's write has answered; a write that died without answering is an error.
fn answered(answer: &mut oneshot::Receiver<StoreResult<()>>) -> Option<StoreResult<()>> {
    match answer.try_recv() {
        Ok(result) => Some(result),
        Err(oneshot::error::TryRecvError::Empty) => None,
        Err(oneshot::error::TryRecvError::Closed) => {
            Some(Err(StoreError::Internal("the access-token write stopped before answering".into())))
        }
    }
}

async fn write(writer: &DatabaseConnection, batch: Vec<(access_token::ActiveModel, Reply)>) {
    if batch.len() > 1 {
        let rows = batch.iter().map(|(row, _)| row.clone());
        match access_token::Entity::insert_many(rows).exec_without_returning(writer).await.store() {
            Ok(_) => {
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
                return;
            }
            // The database is down: every row would wait out the same timeout again.
            Err(StoreError::Unavailable(why)) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Unavailable(why.clone())));
                }
                return;
            }
            // Which row failed, and why, each caller learns from its own insert below.
            Err(_) => {}
        }
    }
    for (row, reply) in batch {
        let result = access_token::Entity::insert(row).exec_without_returning(writer).await.store().map(drop);
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_powers_of_two_up_to_the_maximum() {
        let lens: Vec<usize> = [0, 1, 2, 3, 4, 5, 7, 8, 100, 255, 256, 257, 10_000].map(batch_len).to_vec();
        assert_eq!(lens, [0, 1, 2, 2, 4, 4, 4, 8, 64, 128, 256, 256, 256]);
        assert!(MAX_BATCH.is_power_of_two());
        // So at most log2(MAX_BATCH) + 1 distinct INSERT texts, whatever the load.
        let texts: std::collections::BTreeSet<usize> = (1..=1000).map(batch_len).collect();
        assert_eq!(texts.len(), MAX_BATCH.ilog2() as usize + 1);
    }
}
