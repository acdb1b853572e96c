//! Audit rows for authentication decisions, written in batches.
//!
//! Every authentication success and failure gets a hash-chained audit row
//! (docs/api.md section 12), off the request's critical path: a request queues its
//! decision and goes on. One writer task appends whatever has queued as one
//! job of the store's write path, so on SQLite it shares the group commit
//! (and its fsync) with payments and every other write. [`Decisions::flush`]
//! waits until everything recorded before it is committed; shutdown and the
//! audit API call it. The crash window: decisions queued (at most [`QUEUE`])
//! or in the batch being committed (at most [`MAX_BATCH`]) when the process
//! dies are lost; in time, that is one group commit, a few milliseconds. State changes (keys, sessions, policy) do not come
//! here: they write their audit row in their own transaction.

use std::sync::OnceLock;

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditEntry, Outcome};

use crate::store::auth::touch_key;
use crate::store::{Store, StoreResult};

const QUEUE: usize = 16_384;
const MAX_BATCH: usize = 1_024;

/// One decision: the audit entry and, for a success, the key that was used.
pub struct Decision {
    pub entry: AuditEntry,
    pub key_id: Option<String>,
    pub at: i64,
}

enum Message {
    Record(Box<Decision>),
    Flush(oneshot::Sender<()>),
}

/// The handle requests record decisions through.
pub struct Decisions {
    store: Store,
    sender: OnceLock<mpsc::Sender<Message>>,
}

impl Decisions {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sender: OnceLock::new(),
        }
    }

    /// The writer task starts with the first decision, inside the runtime.
    fn sender(&self) -> &mpsc::Sender<Message> {
        self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write_batches(self.store.clone(), receiver));
            sender
        })
    }

    /// Queues a decision. Waits only when the queue is full.
    pub async fn record(&self, decision: Decision) {
        if self.sender().send(Message::Record(Box::new(decision))).await.is_err() {
            tracing::error!("the audit writer has stopped; an authentication decision was not recorded");
        }
    }

    /// Returns once every decision recorded before the call is committed.
    pub async fn flush(&self) {
        let Some(sender) = self.sender.get() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Message>) {
    let mut batch: Vec<Box<Decision>> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(decision) => batch.push(decision),
                Message::Flush(done) => waiters.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let rows = std::sync::Arc::new(std::mem::take(&mut batch));
            // A failed batch is logged and retried once; rows are never dropped silently.
            if let Err(err) = write(&store, rows.clone()).await {
                tracing::error!(error = %err, rows = rows.len(), "audit batch failed; retrying");
                if let Err(err) = write(&store, rows.clone()).await {
                    tracing::error!(error = %err, rows = rows.len(), "audit batch lost");
                }
            }
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch through the store's one write path: on SQLite it joins
/// the group commit with every other write (one fsync for all of them).
async fn write(store: &Store, batch: std::sync::Arc<Vec<Box<Decision>>>) -> StoreResult<()> {
    store
        .write(move |conn| Box::pin(async move { write_in(conn, &batch).await }))
        .await
}

async fn write_in(conn: &mut AnyConnection, batch: &[Box<Decision>]) -> StoreResult<()> {
    // Keys first, then the audit chain: the order every other writer takes
    // its locks in (a change, then its audit row), so a revocation or a
    // lockdown does not deadlock with this batch on PostgreSQL.
    let mut last_use: std::collections::BTreeMap<&str, (i64, &str)> = std::collections::BTreeMap::new();
    for decision in batch {
        if let (Some(key_id), Outcome::Success) = (&decision.key_id, decision.entry.outcome) {
            let ip = decision.entry.ip.as_deref().unwrap_or_default();
            last_use.insert(key_id, (decision.at, ip));
        }
    }
    for (key_id, (at, ip)) in last_use {
        touch_key(&mut *conn, key_id, at, ip).await?;
    }
    let entries: Vec<(&audit::AuditEntry, i64)> = batch.iter().map(|d| (&d.entry, d.at)).collect();
    audit::record_batch(conn, &entries).await
}
