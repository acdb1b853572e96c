//! A write transaction held by its caller: on SQLite, a savepoint of the
//! group commit's shared transaction, lent to the caller and handed back
//! when it commits or drops; on PostgreSQL, a transaction of its own (as
//! [`super::Store::write`] runs there). Either way a write goes through the
//! one write path, and `commit` returns only once the work is durable.

use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// The savepoint a lent transaction's work runs in.
pub(super) const SAVEPOINT: &str = "paygate_lent";

/// The shared transaction, on its way to a caller, with the way back.
pub(super) struct Lent {
    pub(super) tx: Transaction<'static, Any>,
    pub(super) back: oneshot::Sender<Returned>,
}

/// The shared transaction on its way back to the writer.
pub(super) struct Returned {
    pub(super) tx: Transaction<'static, Any>,
    /// Set when the caller committed (its savepoint already released): told
    /// whether the batch holding the work committed. `None`: roll the
    /// savepoint back.
    pub(super) committed: Option<oneshot::Sender<bool>>,
}

/// A write transaction. Dropping it without `commit` rolls its work back.
/// Never hold one while waiting on another write (`Store::write`, a second
/// `begin_write`): on SQLite the writer waits for this one to come back.
pub struct WriteTx {
    tx: Option<Transaction<'static, Any>>,
    /// Where a lent transaction goes back to (SQLite).
    back: Option<oneshot::Sender<Returned>>,
}

impl WriteTx {
    pub(super) fn own(tx: Transaction<'static, Any>) -> Self {
        Self {
            tx: Some(tx),
            back: None,
        }
    }

    pub(super) fn lent(lent: Lent) -> Self {
        Self {
            tx: Some(lent.tx),
            back: Some(lent.back),
        }
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        match self.tx.as_deref_mut() {
            Some(conn) => conn,
            // `tx` is taken only by `commit` (which consumes self) and `drop`.
            None => unreachable!("a write transaction used after it ended"),
        }
    }

    /// Commits the work; returns once it is durable.
    pub async fn commit(mut self) -> StoreResult<()> {
        let Some(mut tx) = self.tx.take() else {
            return Err(gone());
        };
        let Some(back) = self.back.take() else {
            tx.commit().await?;
            return Ok(());
        };
        let released = sqlx::query(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
            .execute(&mut *tx)
            .await;
        if let Err(err) = released {
            let _ = back.send(Returned { tx, committed: None });
            return Err(err.into());
        }
        let (committed, outcome) = oneshot::channel();
        back.send(Returned {
            tx,
            committed: Some(committed),
        })
        .map_err(|_| gone())?;
        match outcome.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Corrupt("the transaction did not commit".to_owned())),
            Err(_) => Err(gone()),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let (Some(tx), Some(back)) = (self.tx.take(), self.back.take()) {
            let _ = back.send(Returned { tx, committed: None });
        }
    }
}

fn gone() -> StoreError {
    StoreError::Corrupt("the writer task has stopped".to_owned())
}
