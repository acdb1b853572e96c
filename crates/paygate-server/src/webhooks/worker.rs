//! The delivery worker. One loop owns the store's side: in a single write
//! transaction per turn it records the attempts that finished, plans
//! deliveries for new outbox events, and claims due deliveries under a
//! lease. Attempts run as tasks, bounded globally and per endpoint, so one
//! slow receiver never holds up another. Everything that matters is in the
//! store: a killed server retries what was waiting once it is back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};

use super::db::{self, AttemptRecord, Claimed};
use super::egress::Policy;
use super::schedule::next_delay;
use super::send::{self, AttemptResult, Clients, Verdict};
use crate::app::AppState;
use crate::ids;
use crate::store::StoreResult;

/// Events planned per turn.
const PLAN_BATCH: i64 = 500;
/// How often an idle worker looks for work nobody woke it for.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long to wait after the store failed before trying again.
const STORE_BACKOFF: Duration = Duration::from_secs(1);

/// An attempt that finished, on its way to the store.
struct Finished {
    claimed: Claimed,
    attempted_at: i64,
    result: AttemptResult,
}

/// Starts the worker; it stops when `shutdown` turns true.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(state.config().webhooks.timeout_secs);
    let clients = Clients::new(state.webhooks().resolver(), timeout)?;
    tokio::spawn(run(state, clients, shutdown));
    Ok(())
}

struct InFlight {
    total: usize,
    /// Claimed deliveries per endpoint, and the permits that bound how many
    /// of them talk to the endpoint at once.
    endpoints: HashMap<String, (usize, Arc<Semaphore>)>,
}

impl InFlight {
    fn start(&mut self, endpoint: &str, per_endpoint: usize) -> Arc<Semaphore> {
        self.total += 1;
        let entry = self
            .endpoints
            .entry(endpoint.to_owned())
            .or_insert_with(|| (0, Arc::new(Semaphore::new(per_endpoint))));
        entry.0 += 1;
        entry.1.clone()
    }

    fn finish(&mut self, endpoint: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(entry) = self.endpoints.get_mut(endpoint) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                self.endpoints.remove(endpoint);
            }
        }
    }

    /// Endpoints with a full queue of their own: claim nothing more for them.
    fn busy(&self, per_endpoint: usize) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|(_, (n, _))| *n >= per_endpoint)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

async fn run(state: AppState, clients: Clients, mut shutdown: watch::Receiver<bool>) {
    let config = state.config().webhooks.clone();
    let per_endpoint = config.max_concurrency_per_endpoint.max(1);
    let global = config.max_concurrency.max(1);
    let lease_secs = i64::try_from(config.timeout_secs).unwrap_or(60) + 30;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let mut in_flight = InFlight {
        total: 0,
        endpoints: HashMap::new(),
    };
    let mut finished: Vec<Finished> = Vec::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        while let Ok(f) = done_rx.try_recv() {
            finished.push(f);
        }
        let now = state.now();
        let capacity = global.saturating_sub(in_flight.total);
        let busy = in_flight.busy(per_endpoint);
        let (has_events, due) = if finished.is_empty() {
            match state.store().pool().acquire().await {
                Ok(mut conn) => db::next_work(&mut conn, now).await.unwrap_or((true, Some(now))),
                Err(_) => (true, Some(now)),
            }
        } else {
            (true, Some(now))
        };
        let worth_a_turn = !finished.is_empty() || has_events || (capacity > 0 && due.is_some_and(|d| d <= now));
        let mut progressed = false;
        if worth_a_turn {
            match turn(&state, &finished, now, capacity, per_endpoint, &busy, lease_secs).await {
                Ok((claimed, planned)) => {
                    for f in finished.drain(..) {
                        in_flight.finish(&f.claimed.endpoint_id);
                    }
                    progressed = planned || !claimed.is_empty();
                    for c in claimed {
                        let permits = in_flight.start(&c.endpoint_id, per_endpoint);
                        tokio::spawn(deliver(state.clone(), clients.clone(), permits, c, done_tx.clone()));
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "webhook worker: the store failed; retrying");
                    tokio::time::sleep(STORE_BACKOFF).await;
                    continue;
                }
            }
        }
        if progressed {
            tokio::task::yield_now().await;
            continue;
        }
        // After a turn that found nothing it could take (every due delivery
        // belongs to a busy endpoint), wait for an attempt to finish.
        let sleep = match due {
            Some(d) if !worth_a_turn => Duration::from_secs(u64::try_from(d - now).unwrap_or(0)),
            _ => IDLE_POLL,
        }
        .clamp(Duration::from_millis(10), IDLE_POLL);
        tokio::select! {
            Some(f) = done_rx.recv() => finished.push(f),
            () = state.webhooks().woken().notified() => {}
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One write transaction: record, plan, claim. Returns the claimed
/// deliveries and whether any event was planned.
#[allow(clippy::too_many_arguments)]
async fn turn(
    state: &AppState,
    finished: &[Finished],
    now: i64,
    capacity: usize,
    per_endpoint: usize,
    busy: &[String],
    lease_secs: i64,
) -> StoreResult<(Vec<Claimed>, bool)> {
    let mut tx = state.store().begin_write().await?;
    for f in finished {
        record(tx.conn(), state, f, now).await?;
    }
    let planned = plan(tx.conn(), now).await?;
    let claimed = if capacity > 0 {
        db::claim(
            tx.conn(),
            &ids::new_id("lease"),
            now,
            now + lease_secs,
            i64::try_from(capacity).unwrap_or(i64::MAX),
            i64::try_from(per_endpoint).unwrap_or(i64::MAX),
            busy,
        )
        .await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok((claimed, planned))
}

/// Plans deliveries for events nobody has planned yet: one per enabled
/// endpoint of the event's merchant and environment that subscribes to it.
async fn plan(conn: &mut sqlx::AnyConnection, now: i64) -> StoreResult<bool> {
    let events = db::undispatched_events(conn, PLAN_BATCH).await?;
    let mut endpoints: HashMap<(String, String), Vec<db::EndpointRecord>> = HashMap::new();
    for event in &events {
        if !db::mark_dispatched(conn, &event.id, now).await? {
            continue;
        }
        let key = (event.merchant_id.clone(), event.env.clone());
        if !endpoints.contains_key(&key) {
            let found = db::enabled_endpoints(conn, &event.merchant_id, &event.env).await?;
            endpoints.insert(key.clone(), found);
        }
        for endpoint in endpoints.get(&key).into_iter().flatten() {
            if endpoint.subscribes_to(&event.event_type) {
                db::insert_delivery(
                    conn,
                    &ids::new_id("dlv"),
                    &endpoint.id,
                    &event.id,
                    &event.merchant_id,
                    &event.env,
                    now,
                )
                .await?;
            }
        }
    }
    Ok(!events.is_empty())
}

/// Writes what an attempt came to and moves its delivery on.
async fn record(conn: &mut sqlx::AnyConnection, state: &AppState, f: &Finished, now: i64) -> StoreResult<()> {
    let config = &state.config().webhooks;
    let attempt = f.claimed.attempts + 1;
    let (status, next) = match f.result.verdict {
        Verdict::Delivered => ("succeeded", None),
        Verdict::Gone => ("failed", None),
        Verdict::Failed => {
            let failures = usize::try_from(attempt).unwrap_or(usize::MAX);
            match next_delay(
                &config.retry_schedule_secs,
                failures,
                config.retry_jitter_percent,
                &mut rand::thread_rng(),
            ) {
                Some(delay) => ("pending", Some(now + delay)),
                None => ("failed", None),
            }
        }
    };
    let row = AttemptRecord {
        delivery_id: f.claimed.id.clone(),
        attempt,
        attempted_at: f.attempted_at,
        response_status: f.result.status.map(i64::from),
        duration_ms: i64::try_from(f.result.duration.as_millis()).unwrap_or(i64::MAX),
        response_body: f.result.body.clone(),
        error: f.result.error.map(str::to_owned),
    };
    let recorded = db::record_attempt(conn, &row, status, next, now).await?;
    if recorded && f.result.verdict == Verdict::Gone {
        db::disable_endpoint(conn, &f.claimed.endpoint_id, "gone", now).await?;
    }
    Ok(())
}

/// Runs one attempt within its endpoint's bound and reports back.
async fn deliver(
    state: AppState,
    clients: Clients,
    permits: Arc<Semaphore>,
    claimed: Claimed,
    done: mpsc::UnboundedSender<Finished>,
) {
    let _permit = permits.acquire_owned().await;
    let now = state.now();
    let policy = Policy::for_env(claimed.env, state.config().webhooks.allow_private_targets);
    let result = match send::active_secrets(state.master_key(), &claimed, now) {
        Ok(secrets) => send::attempt(&clients, policy, &secrets, &claimed, now).await,
        Err(_) => {
            tracing::error!(endpoint = %claimed.endpoint_id, "a webhook secret could not be opened with the master key");
            AttemptResult {
                verdict: Verdict::Failed,
                status: None,
                duration: Duration::ZERO,
                body: String::new(),
                error: Some("secret_unavailable"),
            }
        }
    };
    let _ = done.send(Finished {
        claimed,
        attempted_at: now,
        result,
    });
}
