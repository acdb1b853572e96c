//! The revocation epoch as this process knows it, kept in memory so that a
//! request trusts a cached credential without asking the database.
//!
//! Every change that can end a credential bumps `auth_epoch` in its own
//! transaction ([`bump`]). How the new value reaches a request:
//! - in the process that bumped: [`bump`] notes the value it wrote; until the
//!   store shows it (the commit) or [`PENDING_FOR`] passes (a rollback), each
//!   request reads the epoch from the store, so the revoking request's answer
//!   is never followed by a request that misses it;
//! - SQLite, another process (the CLI): a connection of our own, used
//!   synchronously, reads `PRAGMA data_version`, which changes when any other
//!   connection commits; only then is the epoch read again (no thread hop);
//! - PostgreSQL, other instances: `LISTEN`/`NOTIFY` on [`CHANNEL`] (the bump
//!   notifies in its transaction, so delivery happens at commit), with a poll
//!   every [`POLL`] as a backstop. The in-memory value is trusted only for
//!   [`FRESH_FOR`] after the last successful poll: when the feed fails,
//!   requests read the store themselves, and fail if that fails too.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, AnyPool, Row as _};

use super::{StoreError, StoreResult};

/// The PostgreSQL notification channel a bump notifies.
pub const CHANNEL: &str = "paygate_auth_epoch";
/// How often the PostgreSQL feed reads the epoch whatever it was told.
const POLL: Duration = Duration::from_millis(200);
/// How long a PostgreSQL reading is trusted without a newer successful poll.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a bump this process made, not yet seen in the store, makes
/// requests read the store (past it, the bump is taken as rolled back).
const PENDING_FOR: Duration = Duration::from_secs(5);

/// The highest epoch this process has written, maybe not yet committed, and
/// until when (milliseconds on [`clock`]) requests should check for it.
static LOCAL_BUMP: AtomicI64 = AtomicI64::new(i64::MIN);
static LOCAL_BUMP_UNTIL: AtomicU64 = AtomicU64::new(0);
/// When (on [`clock`]) this process last bumped the epoch on PostgreSQL.
static POSTGRES_BUMP_AT: AtomicU64 = AtomicU64::new(0);
static POSTGRES_BUMPED: AtomicBool = AtomicBool::new(false);

/// Milliseconds since this process first asked (monotonic).
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Bumps the revocation epoch inside the caller's transaction (and on
/// PostgreSQL notifies the other instances, delivered when it commits).
pub async fn bump(conn: &mut AnyConnection) -> StoreResult<()> {
    let epoch: i64 = sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
        .fetch_one(&mut *conn)
        .await?
        .try_get("epoch")?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(epoch.to_string())
            .execute(&mut *conn)
            .await?;
        POSTGRES_BUMP_AT.store(clock(), Ordering::SeqCst);
        POSTGRES_BUMPED.store(true, Ordering::SeqCst);
    }
    LOCAL_BUMP.fetch_max(epoch, Ordering::SeqCst);
    LOCAL_BUMP_UNTIL.store(clock() + millis(PENDING_FOR), Ordering::SeqCst);
    Ok(())
}

/// Runs `work` (a CLI command), then, if it bumped the epoch on PostgreSQL,
/// waits until every instance honours the bump: [`FRESH_FOR`] after it,
/// each instance has either polled since or stopped trusting its memory. So
/// a revocation from the CLI is in force everywhere once the command returns.
pub async fn settled<T>(work: impl std::future::Future<Output = T>) -> T {
    let value = work.await;
    if POSTGRES_BUMPED.load(Ordering::SeqCst) {
        let spread = POSTGRES_BUMP_AT.load(Ordering::SeqCst) + millis(FRESH_FOR) + 50;
        let wait = spread.saturating_sub(clock());
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    value
}

/// Whether a bump of this process may be committed and not yet known.
fn bump_pending(known: i64) -> bool {
    LOCAL_BUMP.load(Ordering::SeqCst) > known && clock() < LOCAL_BUMP_UNTIL.load(Ordering::SeqCst)
}

async fn read(pool: &AnyPool) -> StoreResult<i64> {
    Ok(sqlx::query("SELECT epoch FROM auth_epoch WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get("epoch")?)
}

/// A connection of our own to the SQLite file, read synchronously.
struct Probe {
    conn: rusqlite::Connection,
    data_version: Option<i64>,
}

struct Feed {
    url: String,
    started: OnceLock<()>,
    /// Until when (on [`clock`]) the last poll's reading is trusted.
    fresh_until: AtomicU64,
}

enum Source {
    Sqlite(Mutex<Probe>),
    Postgres(Feed),
}

struct Inner {
    known: AtomicI64,
    pool: AnyPool,
    source: Source,
}

/// The revocation epoch of one store, in memory.
#[derive(Clone)]
pub(super) struct EpochWatch {
    inner: Arc<Inner>,
}

impl EpochWatch {
    pub(super) fn sqlite(path: &Path, pool: AnyPool) -> StoreResult<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(probe_error)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(probe_error)?;
        Ok(Self::with(
            pool,
            Source::Sqlite(Mutex::new(Probe {
                conn,
                data_version: None,
            })),
        ))
    }

    pub(super) fn postgres(url: &str, pool: AnyPool) -> Self {
        Self::with(
            pool,
            Source::Postgres(Feed {
                url: url.to_owned(),
                started: OnceLock::new(),
                fresh_until: AtomicU64::new(0),
            }),
        )
    }

    fn with(pool: AnyPool, source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                known: AtomicI64::new(i64::MIN),
                pool,
                source,
            }),
        }
    }

    /// The current epoch: committed revocations this request must honour are
    /// at or below it. An error means it could not be established.
    pub(super) async fn current(&self) -> StoreResult<i64> {
        let inner = &self.inner;
        match &inner.source {
            Source::Sqlite(probe) => {
                let mut probe = probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let version: i64 = probe
                    .conn
                    .query_row("PRAGMA data_version", [], |row| row.get(0))
                    .map_err(probe_error)?;
                let known = inner.known.load(Ordering::SeqCst);
                if probe.data_version == Some(version) && !bump_pending(known) {
                    return Ok(known);
                }
                let epoch: i64 = probe
                    .conn
                    .prepare_cached("SELECT epoch FROM auth_epoch WHERE id = 1")
                    .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
                    .map_err(probe_error)?;
                probe.data_version = Some(version);
                Ok(inner.known.fetch_max(epoch, Ordering::SeqCst).max(epoch))
            }
            Source::Postgres(feed) => {
                feed.started.get_or_init(|| {
                    tokio::spawn(run_feed(Arc::downgrade(inner)));
                });
                let known = inner.known.load(Ordering::SeqCst);
                if clock() < feed.fresh_until.load(Ordering::SeqCst) && !bump_pending(known) {
                    return Ok(known);
                }
                let epoch = read(&inner.pool).await?;
                Ok(inner.known.fetch_max(epoch, Ordering::SeqCst).max(epoch))
            }
        }
    }
}

fn probe_error(err: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("revocation epoch probe: {err}"))
}

/// Keeps a PostgreSQL store's epoch current: notifications as they come, a
/// poll every [`POLL`]. Ends when the store is gone.
async fn run_feed(inner: Weak<Inner>) {
    let mut listener: Option<PgListener> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let Source::Postgres(feed) = &strong.source else { return };
        if listener.is_none() {
            listener = listen(&feed.url).await;
        }
        // Trusted for FRESH_FOR from when the read started, so a reading is
        // never trusted longer than a second after a commit it missed.
        let started = clock();
        match read(&strong.pool).await {
            Ok(epoch) => {
                strong.known.fetch_max(epoch, Ordering::SeqCst);
                feed.fresh_until
                    .fetch_max(started + millis(FRESH_FOR), Ordering::SeqCst);
            }
            Err(err) => tracing::warn!(error = %err, "revocation epoch poll failed; requests read the store"),
        }
        drop(strong);
        if listener.is_none() {
            tick.tick().await;
        }
        // Between polls, take notifications as they arrive.
        while let Some(l) = listener.as_mut() {
            tokio::select! {
                received = l.try_recv() => match received {
                    Ok(Some(note)) => {
                        if let (Ok(epoch), Some(strong)) = (note.payload().parse::<i64>(), inner.upgrade()) {
                            strong.known.fetch_max(epoch, Ordering::SeqCst);
                        }
                    }
                    // The connection dropped (notifications may be lost): the
                    // poll covers them, and the next turn listens again.
                    Ok(None) | Err(_) => listener = None,
                },
                _ = tick.tick() => break,
            }
        }
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let mut listener = match PgListener::connect(url).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(error = %err, "revocation epoch: cannot listen for notifications; polling");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "revocation epoch: LISTEN failed; polling");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use sqlx::Connection as _;

    #[tokio::test]
    async fn sqlite_sees_another_processs_bump_on_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("", dir.path()).await.unwrap();
        let before = store.auth_epoch().await.unwrap();
        assert_eq!(store.auth_epoch().await.unwrap(), before);
        // Another process: its own connection, no note in this one's memory.
        let other = rusqlite::Connection::open(dir.path().join("paygate.db")).unwrap();
        other
            .execute("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1", [])
            .unwrap();
        assert_eq!(store.auth_epoch().await.unwrap(), before + 1);
    }

    /// On PostgreSQL (when `PAYGATE_TEST_DATABASE_URL` names one): a bump
    /// by another process is known within a second, whether it notifies
    /// (the listener) or not (the poll).
    #[tokio::test]
    async fn postgres_learns_of_another_processs_bump_within_a_second() {
        let Some(admin) = std::env::var("PAYGATE_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return;
        };
        let name = format!("paygate_epoch_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::postgres::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.split_once('?').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&url, dir.path()).await.unwrap();
        store.auth_epoch().await.unwrap();
        tokio::time::sleep(POLL * 2).await;
        for notify in [true, false] {
            let before = store.auth_epoch().await.unwrap();
            let mut other = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
            let bumped: i64 =
                sqlx::query_scalar("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
                    .fetch_one(&mut other)
                    .await
                    .unwrap();
            if notify {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(bumped.to_string())
                    .execute(&mut other)
                    .await
                    .unwrap();
            }
            let started = Instant::now();
            while store.auth_epoch().await.unwrap() < bumped {
                assert!(
                    started.elapsed() < FRESH_FOR,
                    "notify={notify}: not seen within a second"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(bumped > before);
        }
    }
}
