//! Group commit: one writer task runs concurrent requests' work, each in its
//! own SAVEPOINT, inside one shared transaction, and answers every request
//! only after that transaction has committed (fsync'd). A request whose work
//! fails is rolled back to its savepoint without disturbing the others.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection as _};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{StoreError, StoreResult};

/// Most requests committed together in one transaction.
const MAX_BATCH: usize = 128;
/// Requests waiting for the writer before senders wait too.
const QUEUE: usize = 4096;

/// What a job hands back after running: called with the commit's outcome.
type Completion = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Completion> + Send>;

/// The handle requests use to reach the writer task.
#[derive(Clone)]
pub(super) struct GroupWriter {
    jobs: mpsc::Sender<Job>,
}

impl GroupWriter {
    /// Starts the writer task. `turn` is the store's writer lock (SQLite),
    /// taken for each batch so plain write transactions take turns with it.
    /// The task runs on a thread of its own, so the work between two
    /// statements never waits behind request handling in the main runtime.
    pub(super) fn start(pool: AnyPool, turn: Option<Arc<Mutex<()>>>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("paygate-writer".to_owned())
            .spawn(
                move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(run(pool, turn, rx)),
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
        let job: Job = Box::new(move |conn: &mut AnyConnection| {
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
        self.jobs.send(job).await.map_err(|_| E::from(writer_gone()))?;
        answer.await.map_err(|_| E::from(writer_gone()))?
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

async fn run(pool: AnyPool, turn: Option<Arc<Mutex<()>>>, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let _turn = match &turn {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let completions = match run_batch(&pool, &mut batch).await {
            Ok(completions) => completions,
            Err(err) => {
                tracing::error!(error = %err, "group commit failed");
                Vec::new()
            }
        };
        drop(_turn);
        batch.clear();
        for (complete, committed) in completions {
            complete(committed);
        }
    }
}

/// Runs every job of the batch in one transaction and commits it. Jobs not
/// run (begin failed) are dropped, which answers their callers with an error.
async fn run_batch(pool: &AnyPool, batch: &mut Vec<Job>) -> StoreResult<Vec<(Completion, bool)>> {
    let mut tx = pool.begin().await?;
    let mut completions = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        completions.push(job(&mut tx).await);
    }
    let committed = match tx.commit().await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(error = %err, "group commit did not commit");
            false
        }
    };
    Ok(completions.into_iter().map(|c| (c, committed)).collect())
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
