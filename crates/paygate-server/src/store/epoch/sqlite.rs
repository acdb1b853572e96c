//! SQLite: a connection of our own to the file, asked synchronously on the
//! request's thread (no thread hop, never the writer) at most once per
//! [`CHECK_EVERY`](super::CHECK_EVERY) under load.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{clock, nanos, Inner, CHECK_EVERY};
use crate::store::{StoreError, StoreResult};

/// The connection; it never writes (`query_only`).
struct Probe {
    conn: rusqlite::Connection,
    data_version: Option<i64>,
}

impl Probe {
    /// The committed epoch, read only when another connection has committed
    /// since the last check (else `known`, which is at least that reading).
    fn check(&mut self, known: i64) -> rusqlite::Result<i64> {
        let version: i64 = self.conn.query_row("PRAGMA data_version", [], |row| row.get(0))?;
        if self.data_version == Some(version) {
            return Ok(known);
        }
        let epoch: i64 = self
            .conn
            .prepare_cached("SELECT epoch FROM auth_epoch WHERE id = 1")?
            .query_row([], |row| row.get(0))?;
        self.data_version = Some(version);
        Ok(epoch)
    }
}

pub(super) struct Sqlite {
    probe: Mutex<Probe>,
    /// When (on [`clock`]) the last successful check started; 0 before any.
    checked_at: AtomicU64,
    /// Checks made, for tests.
    checks: AtomicU64,
}

fn probe_error(err: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("revocation epoch probe: {err}"))
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> StoreResult<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(probe_error)?;
        // A check runs on the request's thread: it may wait briefly for a
        // lock (WAL recovery, say), then fails the request rather than stall.
        conn.busy_timeout(Duration::from_secs(1)).map_err(probe_error)?;
        conn.pragma_update(None, "query_only", true).map_err(probe_error)?;
        Ok(Self {
            probe: Mutex::new(Probe {
                conn,
                data_version: None,
            }),
            checked_at: AtomicU64::new(0),
            checks: AtomicU64::new(0),
        })
    }

    /// Whether a check started less than [`CHECK_EVERY`] before `arrived`:
    /// it saw every commit made [`CHECK_EVERY`] or longer before.
    pub(super) fn vouches_for(&self, arrived: u64) -> bool {
        let checked_at = self.checked_at.load(Ordering::SeqCst);
        checked_at != 0 && arrived.saturating_sub(checked_at) < nanos(CHECK_EVERY)
    }

    /// Checks the file unless a check that started after `arrived` already
    /// has (its answer covers every commit before this request). An error
    /// leaves the last success as it was, so memory is never trusted past
    /// [`CHECK_EVERY`] after it.
    pub(super) fn check(&self, arrived: u64, inner: &Inner) -> StoreResult<i64> {
        let mut probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        if self.checked_at.load(Ordering::SeqCst) >= arrived {
            return Ok(inner.known.load(Ordering::SeqCst));
        }
        let started = clock();
        self.checks.fetch_add(1, Ordering::Relaxed);
        let epoch = probe.check(inner.known.load(Ordering::SeqCst)).map_err(probe_error)?;
        let epoch = inner.learn(epoch);
        self.checked_at.fetch_max(started, Ordering::SeqCst);
        Ok(epoch)
    }

    /// How many times the file was checked.
    #[cfg(test)]
    pub(super) fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}
