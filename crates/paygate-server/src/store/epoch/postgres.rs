//! PostgreSQL: a task per store `LISTEN`s for bumps and polls the epoch
//! every [`POLL`]; a reading is trusted for [`FRESH_FOR`] from the start of
//! the poll that made it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use sqlx::postgres::PgListener;

use super::{clock, nanos, read, Inner, Source, CHANNEL, FRESH_FOR, POLL};

pub(super) struct Feed {
    url: String,
    started: OnceLock<()>,
    /// Until when (on [`clock`]) the last poll's reading is trusted.
    fresh_until: AtomicU64,
}

impl Feed {
    pub(super) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            started: OnceLock::new(),
            fresh_until: AtomicU64::new(0),
        }
    }

    /// Starts the feed's task on the first request (inside the runtime).
    pub(super) fn start(&self, inner: &Arc<Inner>) {
        self.started.get_or_init(|| {
            tokio::spawn(run_feed(Arc::downgrade(inner)));
        });
    }

    /// Whether the last successful poll started less than [`FRESH_FOR`] ago.
    pub(super) fn fresh(&self) -> bool {
        clock() < self.fresh_until.load(Ordering::SeqCst)
    }
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
                strong.learn(epoch);
                feed.fresh_until.fetch_max(started + nanos(FRESH_FOR), Ordering::SeqCst);
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
                            strong.learn(epoch);
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
