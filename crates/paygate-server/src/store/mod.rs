//! Persistence. One `Store` over SQLite (default, WAL, fsync'd commits) or
//! PostgreSQL, through sqlx's `Any` driver so each query is written once with
//! `$N` placeholders that both backends understand.

mod api_keys;
pub mod auth;
pub mod dashboard;
mod epoch;
mod ledger;
pub use ledger::DayFigure;
pub mod merchants;
pub mod page;
mod write_tx;
mod writer;

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection as _, Executor as _};

pub use api_keys::{insert_key, key_by_id_in, set_allowed_ips_in, KeyRecord, NewKey};
pub use epoch::settled;
pub use ledger::BalanceRow;
pub use merchants::MerchantRecord;
pub use write_tx::WriteTx;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The group-commit writer (see `writer`), on SQLite only: SQLite allows
    /// one writer at a time, and every write goes through this one.
    writer: Option<writer::GroupWriter>,
    /// The revocation epoch in memory (see `epoch`).
    epoch: epoch::EpochWatch,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// Opens SQLite in `data_dir` (created if missing) when `database_url` is
    /// empty, else the PostgreSQL database it names; then migrates.
    pub async fn open(database_url: &str, data_dir: &Path) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let store = if database_url.is_empty() {
            let path = data_dir.join("paygate.db");
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL with synchronous=FULL: an acknowledged commit is on disk.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_str(&url)?)
                .await?;
            Self {
                epoch: epoch::EpochWatch::sqlite(&path, pool.clone())?,
                writer: Some(writer::GroupWriter::start(pool.clone())),
                pool,
                backend: Backend::Sqlite,
            }
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(database_url)
                .await?;
            Self {
                epoch: epoch::EpochWatch::postgres(database_url, pool.clone()).await?,
                writer: None,
                pool,
                backend: Backend::Postgres,
            }
        };
        store_migrate(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction the caller holds, on the same write path as
    /// [`Store::write`]: on SQLite a savepoint of the next group commit (the
    /// shared transaction is lent to the caller and the batch waits for it),
    /// on PostgreSQL a transaction of its own. `commit` returns once the
    /// batch holding it is durable. Prefer `write` for request work: a held
    /// transaction keeps the rest of its batch waiting.
    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        match &self.writer {
            Some(writer) => Ok(WriteTx::lent(writer.lend().await?)),
            None => Ok(WriteTx::own(self.pool.begin().await?)),
        }
    }

    /// Runs `work` and answers only after it has committed. On SQLite it
    /// joins the next group commit: its own savepoint of a transaction shared
    /// with concurrent writes (an `Err` rolls back this work alone). On
    /// PostgreSQL, where several instances write at once, it runs in a
    /// transaction of its own: a batch shared by unrelated requests would
    /// take their row locks in an order no other instance can follow, and a
    /// deadlock would fail them all. PostgreSQL groups concurrent commits'
    /// WAL flushes itself.
    /// Never call it while holding a [`WriteTx`]: on SQLite the writer waits
    /// for that one to come back.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> futures_util::future::BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.write(work).await;
        }
        let mut tx = self.pool.begin().await.map_err(|e| E::from(StoreError::from(e)))?;
        let value = work(&mut tx).await?;
        tx.commit().await.map_err(|e| E::from(StoreError::from(e)))?;
        Ok(value)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        match self.pool.acquire().await {
            Ok(mut conn) => conn.ping().await.is_ok(),
            Err(_) => false,
        }
    }
}

/// Whether `err` is PostgreSQL refusing a transaction because of another
/// one (deadlock victim `40P01`, serialization failure `40001`): the whole
/// transaction was rolled back, so sending the request again is safe.
pub fn is_contention(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40P01") | Some("40001")),
        _ => false,
    }
}

/// How a `SELECT` locks the rows it reads on PostgreSQL, where instances
/// write concurrently.
#[derive(Debug, Clone, Copy)]
pub enum RowLock {
    /// Until the transaction ends: a writer on another instance waits, then
    /// sees the committed value.
    Wait,
    /// Rows another transaction has locked are passed over, not waited for.
    SkipLocked,
}

/// The clause that takes `lock` on PostgreSQL; nothing on SQLite, whose
/// single writer already holds the whole database.
pub fn lock_rows(conn: &AnyConnection, lock: RowLock) -> &'static str {
    match (conn.backend_name() == "PostgreSQL", lock) {
        (false, _) => "",
        (true, RowLock::Wait) => " FOR UPDATE",
        (true, RowLock::SkipLocked) => " FOR UPDATE SKIP LOCKED",
    }
}

async fn store_migrate(store: &Store) -> StoreResult<()> {
    match store.backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&store.pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&store.pool).await?,
    }
    Ok(())
}
