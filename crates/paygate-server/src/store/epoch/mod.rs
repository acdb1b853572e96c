//! The revocation epoch as this process knows it, kept in memory so that a
//! request trusts a cached credential without a store round trip.
//!
//! Every change that can end a credential bumps `auth_epoch` in its own
//! transaction ([`bump`]). How the new value reaches a request:
//! - in the process that bumped: [`bump`] notes the value it wrote; until a
//!   reading shows it (the commit) or [`PENDING_FOR`] passes (a rollback),
//!   each request checks at once, so the revoking request's answer is never
//!   followed by a request that misses it;
//! - SQLite, another process (the CLI): a read-only connection of our own,
//!   used synchronously (no thread hop, never the writer), asks
//!   `PRAGMA data_version`, which changes when any other connection commits,
//!   and reads the epoch only then. A request trusts memory when a check
//!   *started* less than [`CHECK_EVERY`] before it arrived, else it checks
//!   (one request at a time; the others take that check's answer, which
//!   started after they arrived). So a commit is honoured by every request
//!   that arrives [`CHECK_EVERY`] after it, at the cost of at most one check
//!   per [`CHECK_EVERY`] under load; [`settled`] makes the CLI wait that long
//!   before it returns, so its revocation holds from the next request on;
//! - PostgreSQL, other instances: `LISTEN`/`NOTIFY` on [`CHANNEL`] (the bump
//!   notifies in its transaction, so delivery happens at commit), with a poll
//!   every [`POLL`] as a backstop. The in-memory value is trusted only for
//!   [`FRESH_FOR`] after the start of the last successful poll: when the feed
//!   fails, requests read the store themselves, and fail if that fails too.
//!
//! A check that fails is an error for the request (fail closed): memory is
//! never trusted past its bound.

mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AnyPool, Row as _};

use self::postgres::Feed;
use self::sqlite::Sqlite;
use super::StoreResult;

/// The PostgreSQL notification channel a bump notifies.
pub const CHANNEL: &str = "paygate_auth_epoch";
/// How often the PostgreSQL feed reads the epoch whatever it was told.
const POLL: Duration = Duration::from_millis(200);
/// How long a PostgreSQL reading is trusted without a newer successful poll.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a SQLite check answers for the requests after it.
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// How long a bump this process made, not yet seen in the store, makes
/// requests check at once (past it, the bump is taken as rolled back).
const PENDING_FOR: Duration = Duration::from_secs(5);
/// Added to the CLI's wait for the rounding of two processes' readings of
/// the same monotonic clock.
const MARGIN: Duration = Duration::from_millis(10);

/// Whether this process bumped the epoch on PostgreSQL, or on SQLite.
static POSTGRES_BUMPED: AtomicBool = AtomicBool::new(false);
static SQLITE_BUMPED: AtomicBool = AtomicBool::new(false);

/// Every store of this process, by the database it opened, so a bump notes
/// itself on the stores of its own database only.
static WATCHES: Mutex<Vec<(String, Weak<Inner>)>> = Mutex::new(Vec::new());

/// Nanoseconds since this process first asked (monotonic), never 0.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A database's name as both a store and a bump see it: the SQLite file's
/// canonical path, or the PostgreSQL database's name.
fn identity(name: &str, sqlite: bool) -> String {
    if sqlite {
        if let Ok(path) = std::fs::canonicalize(name) {
            return format!("sqlite:{}", path.display());
        }
    }
    format!("{}:{name}", if sqlite { "sqlite" } else { "postgres" })
}

/// Bumps the revocation epoch inside the caller's transaction (and on
/// PostgreSQL notifies the other instances, delivered when it commits).
pub async fn bump(conn: &mut AnyConnection) -> StoreResult<()> {
    let postgres = conn.backend_name() == "PostgreSQL";
    let row = sqlx::query(if postgres {
        "UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch, current_database()::text AS db"
    } else {
        "UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 \
         RETURNING epoch, (SELECT file FROM pragma_database_list WHERE name = 'main') AS db"
    })
    .fetch_one(&mut *conn)
    .await?;
    let epoch: i64 = row.try_get("epoch")?;
    // Without a name, every store of the process is told (more checks, never fewer).
    let database = row.try_get::<String, _>("db").ok().map(|db| identity(&db, !postgres));
    if postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(epoch.to_string())
            .execute(&mut *conn)
            .await?;
        POSTGRES_BUMPED.store(true, Ordering::SeqCst);
    } else {
        SQLITE_BUMPED.store(true, Ordering::SeqCst);
    }
    let until = clock() + nanos(PENDING_FOR);
    let watches = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
    for (name, watch) in watches.iter() {
        if database.as_ref().is_none_or(|db| db == name) {
            if let Some(inner) = watch.upgrade() {
                inner.pending.fetch_max(epoch, Ordering::SeqCst);
                inner.pending_until.store(until, Ordering::SeqCst);
            }
        }
    }
    Ok(())
}

/// Runs `work` (a CLI command), then, if it bumped the epoch, waits until
/// every running server honours the bump: on PostgreSQL [`FRESH_FOR`] after
/// the commit (each instance has polled since or stopped trusting its
/// memory), on SQLite [`CHECK_EVERY`] (the next request of a server on the
/// same file checks). So a revocation from the CLI is in force everywhere
/// once the command returns.
pub async fn settled<T>(work: impl std::future::Future<Output = T>) -> T {
    let value = work.await;
    // Every commit of `work` happened before it returned: wait from now.
    let wait = if POSTGRES_BUMPED.load(Ordering::SeqCst) {
        Some(FRESH_FOR)
    } else if SQLITE_BUMPED.load(Ordering::SeqCst) {
        Some(CHECK_EVERY)
    } else {
        None
    };
    if let Some(wait) = wait {
        tokio::time::sleep(wait + MARGIN).await;
    }
    value
}

async fn read(pool: &AnyPool) -> StoreResult<i64> {
    Ok(sqlx::query("SELECT epoch FROM auth_epoch WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get("epoch")?)
}

enum Source {
    Sqlite(Sqlite),
    Postgres(Feed),
}

struct Inner {
    /// The highest epoch read from the store.
    known: AtomicI64,
    /// The highest epoch this process wrote to this database, maybe not yet
    /// committed, and until when (on [`clock`]) requests check for it.
    pending: AtomicI64,
    pending_until: AtomicU64,
    pool: AnyPool,
    source: Source,
}

impl Inner {
    /// Whether a bump of this process may be committed and not yet known.
    fn bump_pending(&self, known: i64) -> bool {
        self.pending.load(Ordering::SeqCst) > known && clock() < self.pending_until.load(Ordering::SeqCst)
    }

    fn learn(&self, epoch: i64) -> i64 {
        self.known.fetch_max(epoch, Ordering::SeqCst).max(epoch)
    }
}

/// The revocation epoch of one store, in memory.
#[derive(Clone)]
pub(super) struct EpochWatch {
    inner: Arc<Inner>,
}

impl EpochWatch {
    pub(super) fn sqlite(path: &Path, pool: AnyPool) -> StoreResult<Self> {
        let name = identity(&path.to_string_lossy(), true);
        Ok(Self::with(name, pool, Source::Sqlite(Sqlite::open(path)?)))
    }

    pub(super) async fn postgres(url: &str, pool: AnyPool) -> StoreResult<Self> {
        let database: String = sqlx::query("SELECT current_database()::text AS db")
            .fetch_one(&pool)
            .await?
            .try_get("db")?;
        Ok(Self::with(
            identity(&database, false),
            pool,
            Source::Postgres(Feed::new(url)),
        ))
    }

    fn with(name: String, pool: AnyPool, source: Source) -> Self {
        let inner = Arc::new(Inner {
            known: AtomicI64::new(i64::MIN),
            pending: AtomicI64::new(i64::MIN),
            pending_until: AtomicU64::new(0),
            pool,
            source,
        });
        let mut watches = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
        watches.retain(|(_, watch)| watch.strong_count() > 0);
        watches.push((name, Arc::downgrade(&inner)));
        Self { inner }
    }

    /// The current epoch: committed revocations this request must honour are
    /// at or below it. An error means it could not be established.
    pub(super) async fn current(&self) -> StoreResult<i64> {
        let inner = &self.inner;
        match &inner.source {
            Source::Sqlite(sqlite) => {
                let arrived = clock();
                let known = inner.known.load(Ordering::SeqCst);
                if sqlite.vouches_for(arrived) && !inner.bump_pending(known) {
                    return Ok(known);
                }
                sqlite.check(arrived, inner)
            }
            Source::Postgres(feed) => {
                feed.start(inner);
                let known = inner.known.load(Ordering::SeqCst);
                if feed.fresh() && !inner.bump_pending(known) {
                    return Ok(known);
                }
                Ok(inner.learn(read(&inner.pool).await?))
            }
        }
    }
}
