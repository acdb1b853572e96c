//! Group commit: one writer task runs concurrent requests' work, each in its
//! own SAVEPOINT, inside one shared transaction, and answers every request
//! only after that transaction has committed (fsync'd). A request whose work
//! fails is rolled back to its savepoint without disturbing the others. It is
//! the only way to write on SQLite: a caller that wants to hold the
//! transaction itself (`Store::begin_write`) is lent the shared transaction,
//! inside a savepoint, and hands it back when it commits or drops.

use futures_util::future::BoxFuture;
use sqlx::{Any, AnyConnection, AnyPool, Connection as _, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::write_tx::{Lent, Returned, SAVEPOINT};
use super::{StoreError, StoreResult};

/// Most requests committed together in one transaction.
const MAX_BATCH: usize = 128;
/// Requests waiting for the writer before senders wait too.
const QUEUE: usize = 4096;

/// What a job hands back after running: called with the commit's outcome.
type Completion = Box<dyn FnOnce(bool) + Send>;
type Work = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Completion> + Send>;

enum Job {
    /// Work the writer runs in a savepoint of its own.
    Work(Work),
    /// A caller that holds the transaction for a while (`Store::begin_write`).
    Lend(oneshot::Sender<Lent>),
}

/// The handle requests use to reach the writer task.
#[derive(Clone)]
pub(super) struct GroupWriter {
    jobs: mpsc::Sender<Job>,
}

impl GroupWriter {
    /// Starts the writer task. The task runs on a thread of its own, so the
    /// work between two statements never waits behind request handling in
    /// the main runtime.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("paygate-writer".to_owned())
            .spawn(
                move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(run(pool, rx)),
                    Err(err) => tracing::error!(error = %err, "the writer's runtime could not start"),
                },
            );
        if let Err(err) = spawned {
            tracing::error!(error = %err, "the writer thread could not start");
        }
        Self { jobs }
    }

    /// Runs `work` in its own savepoint of the next batch and returns its
    /// result once the batch has committed. If the commit fails, the work's
    /// effects are gone and the caller gets the error.
    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job: Work = Box::new(move |conn: &mut AnyConnection| {
            Box::pin(async move {
                let outcome = in_savepoint(conn, work).await;
                let complete: Completion = Box::new(move |committed: bool| {
                    let result = match outcome {
                        Ok(value) if committed => Ok(value),
                        Ok(_) => Err(E::from(StoreError::Corrupt(
                            "the transaction did not commit".to_owned(),
                        ))),
                        Err(err) => Err(err),
                    };
                    let _ = reply.send(result);
                });
                complete
            })
        });
        self.jobs
            .send(Job::Work(job))
            .await
            .map_err(|_| E::from(writer_gone()))?;
        answer.await.map_err(|_| E::from(writer_gone()))?
    }

    /// Waits for the writer's turn and borrows the shared transaction,
    /// inside a savepoint of its own.
    pub(super) async fn lend(&self) -> StoreResult<Lent> {
        let (reply, lent) = oneshot::channel();
        self.jobs.send(Job::Lend(reply)).await.map_err(|_| writer_gone())?;
        lent.await.map_err(|_| writer_gone())
    }
}

fn writer_gone() -> StoreError {
    StoreError::Corrupt("the writer task has stopped".to_owned())
}

async fn in_savepoint<T, E, F>(conn: &mut AnyConnection, work: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, E>>,
{
    let mut savepoint = conn.begin().await.map_err(|e| E::from(StoreError::from(e)))?;
    match work(&mut savepoint).await {
        Ok(value) => {
            savepoint.commit().await.map_err(|e| E::from(StoreError::from(e)))?;
            Ok(value)
        }
        Err(err) => {
            savepoint.rollback().await.map_err(|e| E::from(StoreError::from(e)))?;
            Err(err)
        }
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        for (complete, committed) in run_batch(&pool, &mut batch).await {
            complete(committed);
        }
        batch.clear();
    }
}

/// Runs every job of the batch in one transaction and commits it. A job
/// that cannot run (begin failed) is dropped, which answers its caller with
/// an error; if a lent transaction never comes back, the work before it is
/// answered as not committed and the rest starts a new transaction.
async fn run_batch(pool: &AnyPool, batch: &mut Vec<Job>) -> Vec<(Completion, bool)> {
    let mut answered = Vec::new();
    let mut pending: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut tx: Option<Transaction<'static, Any>> = None;
    for job in batch.drain(..) {
        let mut current = match tx.take() {
            Some(current) => current,
            None => match pool.begin().await {
                Ok(current) => current,
                Err(err) => {
                    tracing::error!(error = %err, "group commit could not begin");
                    continue;
                }
            },
        };
        match job {
            Job::Work(work) => {
                pending.push(work(&mut current).await);
                tx = Some(current);
            }
            Job::Lend(request) => match lend(current, request).await {
                Some((current, completion)) => {
                    pending.extend(completion);
                    tx = Some(current);
                }
                None => answered.extend(pending.drain(..).map(|c| (c, false))),
            },
        }
    }
    let committed = match tx {
        Some(tx) => match tx.commit().await {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, "group commit did not commit");
                false
            }
        },
        None => false,
    };
    answered.extend(pending.into_iter().map(|c| (c, committed)));
    answered
}

/// Lends `tx` to the caller inside a savepoint and waits for it to come
/// back: with a completion if the caller committed, rolled back to the
/// savepoint if not. `None` if the transaction was lost on the way.
async fn lend(
    mut tx: Transaction<'static, Any>,
    request: oneshot::Sender<Lent>,
) -> Option<(Transaction<'static, Any>, Option<Completion>)> {
    if let Err(err) = sqlx::query(&format!("SAVEPOINT {SAVEPOINT}")).execute(&mut *tx).await {
        tracing::error!(error = %err, "group commit could not open a savepoint to lend");
        return Some((tx, None));
    }
    let (back, returned) = oneshot::channel();
    let tx = match request.send(Lent { tx, back }) {
        Ok(()) => match returned.await {
            Ok(Returned {
                tx,
                committed: Some(committed),
            }) => {
                let complete: Completion = Box::new(move |ok| {
                    let _ = committed.send(ok);
                });
                return Some((tx, Some(complete)));
            }
            Ok(Returned { tx, committed: None }) => tx,
            Err(_) => {
                tracing::error!("a lent write transaction never came back");
                return None;
            }
        },
        // The caller gave up waiting.
        Err(lent) => lent.tx,
    };
    roll_back_lent(tx).await.map(|tx| (tx, None))
}

async fn roll_back_lent(mut tx: Transaction<'static, Any>) -> Option<Transaction<'static, Any>> {
    for sql in [
        format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"),
        format!("RELEASE SAVEPOINT {SAVEPOINT}"),
    ] {
        if let Err(err) = sqlx::query(&sql).execute(&mut *tx).await {
            tracing::error!(error = %err, "group commit could not roll back a lent savepoint");
            return None;
        }
    }
    Some(tx)
}

/// Splits a batch's jobs' answers, for tests of the writer itself.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn concurrent_writes_commit_together_and_failures_roll_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("", dir.path()).await.unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .execute(store.pool())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..50i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |conn| {
                        Box::pin(async move {
                            // Every fifth write inserts a duplicate and fails.
                            let v = if i % 5 == 4 { i - 1 } else { i };
                            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                                .bind(v)
                                .execute(&mut *conn)
                                .await?;
                            Ok::<_, StoreError>(i)
                        })
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(ok, 40);
        assert_eq!(count, 40);
    }
}
