//! Periodic upkeep while the server runs: expiring unpaid payments,
//! purging idempotency records past their retention, and alerting about
//! keys due for rotation.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppState;

const EVERY: Duration = Duration::from_secs(10);

/// Runs one sweep; errors are logged, the next sweep tries again.
pub async fn sweep(state: &AppState) {
    let now = state.now();
    if let Err(err) = crate::payments::expire_due(state.store(), now).await {
        tracing::warn!(error = ?err.code(), "payment expiry sweep failed");
    }
    if let Err(err) = crate::idempotency::purge_expired(state.store(), now).await {
        tracing::warn!(error = %err, "idempotency purge failed");
    }
    if let Err(err) = crate::key_age::alert_due(state.store(), &state.config().auth, now).await {
        tracing::warn!(error = %err, "key rotation alerts failed");
    }
}

/// Sweeps every few seconds until `shutdown` turns true.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => sweep(&state).await,
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
