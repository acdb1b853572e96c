//! The delivery worker. One loop owns the store's side: each turn is one
//! job of the group commit (on SQLite it shares the API's batch and fsync)
//! that records the attempts that finished (in bulk, see
//! [`super::outcomes`]), plans deliveries for new outbox events, and claims
//! due deliveries under a lease. Attempts run as tasks, bounded globally and
//! per endpoint: a claim takes at most twice what an endpoint's bound leaves
//! free, and the extra wait their turn behind the endpoint's gate, so one
//! slow receiver never holds up another and a healthy one never waits a
//! turn of the writer for its next attempt. Everything that matters is in
//! the store: a killed server retries what was waiting once it is back.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch, Semaphore};

use super::db::{self, AttemptRecord, Claimed};
use super::delivery_state::{DeliveryEvent, DeliveryState};
use super::egress::Policy;
use super::outcomes::{self, Outcome};
use super::schedule::next_delay;
use super::send::{self, AttemptResult, Clients, Verdict};
use crate::app::AppState;
use crate::ids;
use crate::store::StoreResult;

/// Events planned per turn.
const PLAN_BATCH: i64 = 500;
/// How often an idle worker looks for work nobody woke it for.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often the set of endpoints with due work is read from the store.
const DUE_REFRESH: Duration = Duration::from_secs(1);
/// Endpoints with due deliveries read per refresh.
const DUE_ENDPOINTS: i64 = 1000;
/// How long to wait after the store failed before trying again.
const STORE_BACKOFF: Duration = Duration::from_secs(1);

/// An attempt that finished, on its way to the store. `result` is `None`
/// for a claimed delivery never sent, because its endpoint answered `410
/// Gone` meanwhile (recording the `Gone` cancels it).
struct Finished {
    claimed: Claimed,
    attempted_at: i64,
    result: Option<AttemptResult>,
}

/// How many claimed deliveries an endpoint may have beyond those in flight:
/// a claim takes up to twice the endpoint's bound, so the next attempts are
/// in hand when the current ones finish, instead of waiting a turn of the
/// group commit each time. A slow endpoint thus holds its bound's attempts
/// and as many rows leased and waiting, nothing else.
const CLAIM_AHEAD: usize = 2;

/// An endpoint's bound on attempts in flight, shared by its attempt tasks.
#[derive(Clone)]
struct Gate {
    permits: Arc<Semaphore>,
    /// Set by an attempt answered `410 Gone`: what waits is not sent.
    gone: Arc<AtomicBool>,
}

/// Starts the worker; it stops when `shutdown` turns true.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(state.config().webhooks.timeout_secs);
    let clients = Clients::new(state.webhooks().resolver(), timeout)?;
    tokio::spawn(run(state, clients, shutdown));
    Ok(())
}

/// Endpoints known to have due deliveries. Planning adds to it, a claim
/// that finds less than it asked for removes from it, and a scan of the
/// store refreshes it now and then (retries falling due, other instances'
/// work), so a turn's cost does not grow with other endpoints' backlogs.
#[derive(Default)]
struct DueSet {
    endpoints: HashSet<String>,
    refreshed: Option<Instant>,
}

impl DueSet {
    fn stale(&self) -> bool {
        self.endpoints.is_empty() || self.refreshed.is_none_or(|at| at.elapsed() >= DUE_REFRESH)
    }
}

/// Deliveries claimed and not yet recorded, in all and per endpoint.
#[derive(Default)]
struct InFlight {
    total: usize,
    endpoints: HashMap<String, usize>,
}

impl InFlight {
    fn start(&mut self, endpoint: &str) {
        self.total += 1;
        *self.endpoints.entry(endpoint.to_owned()).or_default() += 1;
    }

    /// Counts an attempt done; an endpoint with nothing left in flight
    /// loses its gate.
    fn finish(&mut self, endpoint: &str, gates: &mut HashMap<String, Gate>) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.endpoints.get_mut(endpoint) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.endpoints.remove(endpoint);
                gates.remove(endpoint);
            }
        }
    }
}

/// How many more deliveries may be claimed: in all, and per endpoint
/// (`busy`: each endpoint's deliveries in flight).
struct Room {
    total: usize,
    per_endpoint: usize,
    busy: HashMap<String, usize>,
}

impl Room {
    fn free_for(&self, endpoint: &str) -> usize {
        let busy = self.busy.get(endpoint).copied().unwrap_or(0);
        self.per_endpoint.saturating_sub(busy)
    }
}

/// A finished attempt's outcome, with what is done after it is recorded.
struct Moved {
    outcome: Outcome,
    endpoint_id: String,
    verdict: Verdict,
}

async fn run(state: AppState, clients: Clients, mut shutdown: watch::Receiver<bool>) {
    let config = state.config().webhooks.clone();
    let per_endpoint = config.max_concurrency_per_endpoint.max(1);
    let global = config.max_concurrency.max(1);
    // A claimed delivery waits at most one attempt for its turn, then takes
    // one: the lease outlasts both, so no other worker takes it meanwhile.
    let lease_secs = 2 * i64::try_from(config.timeout_secs).unwrap_or(60) + 30;
    let mut gates: HashMap<String, Gate> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let mut in_flight = InFlight::default();
    let mut due_set = DueSet::default();
    let mut finished: Vec<Finished> = Vec::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        while let Ok(f) = done_rx.try_recv() {
            in_flight.finish(&f.claimed.endpoint_id, &mut gates);
            finished.push(f);
        }
        let now = state.now();
        let capacity = global.saturating_sub(in_flight.total);
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
            let room = Room {
                total: capacity,
                per_endpoint: per_endpoint * CLAIM_AHEAD,
                busy: in_flight.endpoints.clone(),
            };
            let moved: Vec<Moved> = finished.iter().filter_map(|f| moved(&state, f, now)).collect();
            match turn(&state, moved, now, room, lease_secs, std::mem::take(&mut due_set)).await {
                Ok((claimed, planned, due)) => {
                    due_set = due;
                    finished.clear();
                    progressed = planned || !claimed.is_empty();
                    for c in claimed {
                        in_flight.start(&c.endpoint_id);
                        let gate = gates
                            .entry(c.endpoint_id.clone())
                            .or_insert_with(|| Gate {
                                permits: Arc::new(Semaphore::new(per_endpoint)),
                                gone: Arc::new(AtomicBool::new(false)),
                            })
                            .clone();
                        tokio::spawn(deliver(state.clone(), clients.clone(), c, gate, done_tx.clone()));
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
            Some(f) = done_rx.recv() => {
                in_flight.finish(&f.claimed.endpoint_id, &mut gates);
                finished.push(f);
            }
            () = state.webhooks().woken().notified() => due_set.refreshed = None,
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One job of the group commit (on SQLite it shares the batch, and its
/// fsync, with the API's writes; on PostgreSQL it is a transaction of its
/// own): record, plan, claim. Returns the claimed deliveries, whether any
/// event was planned, and the due set back.
async fn turn(
    state: &AppState,
    moved: Vec<Moved>,
    now: i64,
    room: Room,
    lease_secs: i64,
    mut due: DueSet,
) -> StoreResult<(Vec<Claimed>, bool, DueSet)> {
    let (claimed, planned, due, recorded) = state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                let recorded = record(conn, &moved, now).await?;
                let planned = plan(conn, now, &mut due.endpoints).await?;
                let claimed = claim(conn, now, &room, lease_secs, &mut due).await?;
                Ok::<_, crate::store::StoreError>((claimed, planned, due, recorded))
            })
        })
        .await?;
    for (verdict, status) in recorded {
        crate::metrics::record_webhook_attempt(&verdict, status.as_str());
    }
    Ok((claimed, planned, due))
}

/// Claims due deliveries endpoint by endpoint, each up to what its bound
/// leaves free, so a slow endpoint's backlog never takes a healthy one's turn.
async fn claim(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    room: &Room,
    lease_secs: i64,
    due: &mut DueSet,
) -> StoreResult<Vec<Claimed>> {
    let mut left = room.total;
    if left == 0 {
        return Ok(Vec::new());
    }
    if due.stale() {
        due.endpoints.extend(db::due_endpoints(conn, now, DUE_ENDPOINTS).await?);
        due.refreshed = Some(Instant::now());
    }
    let token = ids::new_id("lease");
    let mut any = false;
    let mut endpoints: Vec<String> = due.endpoints.iter().cloned().collect();
    // Every endpoint gets its turn first now and then.
    endpoints.shuffle(&mut rand::thread_rng());
    for endpoint in endpoints {
        let free = room.free_for(&endpoint).min(left);
        if free == 0 {
            continue;
        }
        let asked = u64::try_from(free).unwrap_or(u64::MAX);
        let got = db::claim_for_endpoint(
            conn,
            &token,
            &endpoint,
            now,
            now + lease_secs,
            i64::try_from(free).unwrap_or(0),
        )
        .await?;
        if got < asked {
            due.endpoints.remove(&endpoint);
        }
        any |= got > 0;
        left = left.saturating_sub(usize::try_from(got).unwrap_or(usize::MAX));
        if left == 0 {
            break;
        }
    }
    if !any {
        return Ok(Vec::new());
    }
    db::claimed_by(conn, &token).await
}

/// Plans deliveries for events nobody has planned yet: one per enabled
/// endpoint of the event's merchant and environment that subscribes to it.
async fn plan(conn: &mut sqlx::AnyConnection, now: i64, due: &mut HashSet<String>) -> StoreResult<bool> {
    let events = db::undispatched_events(conn, PLAN_BATCH).await?;
    if events.is_empty() {
        return Ok(false);
    }
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let won: HashSet<String> = db::mark_dispatched(conn, &ids, now).await?.into_iter().collect();
    let mut endpoints: HashMap<(String, String), Vec<db::EndpointRecord>> = HashMap::new();
    for event in events.iter().filter(|e| won.contains(&e.id)) {
        if let Entry::Vacant(slot) = endpoints.entry((event.merchant_id.clone(), event.env.clone())) {
            slot.insert(db::enabled_endpoints(conn, &event.merchant_id, &event.env).await?);
        }
    }
    let mut rows = Vec::new();
    for event in events.iter().filter(|e| won.contains(&e.id)) {
        let key = (event.merchant_id.clone(), event.env.clone());
        for endpoint in endpoints.get(&key).into_iter().flatten() {
            if endpoint.subscribes_to(&event.event_type) {
                rows.push((
                    endpoint.id.as_str(),
                    event.id.as_str(),
                    event.merchant_id.as_str(),
                    event.env.as_str(),
                ));
                due.insert(endpoint.id.clone());
            }
        }
    }
    db::insert_deliveries(conn, &rows, now).await?;
    Ok(true)
}

/// What an attempt came to, and where it moves its (pending) delivery.
fn moved(state: &AppState, f: &Finished, now: i64) -> Option<Moved> {
    let config = &state.config().webhooks;
    let result = f.result.as_ref()?;
    let attempt = f.claimed.attempts + 1;
    let event = match result.verdict {
        Verdict::Delivered => DeliveryEvent::Delivered,
        Verdict::Gone => DeliveryEvent::Gone,
        Verdict::Failed => {
            let failures = usize::try_from(attempt).unwrap_or(usize::MAX);
            let delay = next_delay(
                &config.retry_schedule_secs,
                failures,
                config.retry_jitter_percent,
                &mut rand::thread_rng(),
            );
            DeliveryEvent::AttemptFailed {
                retry_at: delay.map(|d| now + d),
            }
        }
    };
    let step = DeliveryState::Pending.on(event)?;
    let outcome = Outcome {
        attempt: AttemptRecord {
            delivery_id: f.claimed.id.clone(),
            attempt,
            attempted_at: f.attempted_at,
            response_status: result.status.map(i64::from),
            duration_ms: i64::try_from(result.duration.as_millis()).unwrap_or(i64::MAX),
            response_body: result.body.clone(),
            error: result.error.map(str::to_owned),
        },
        status: step.state,
        next_attempt_at: step.next_attempt_at,
    };
    Some(Moved {
        outcome,
        endpoint_id: f.claimed.endpoint_id.clone(),
        verdict: result.verdict.clone(),
    })
}

/// Writes what the finished attempts came to, in bulk, and disables the
/// endpoints that answered `410 Gone`; returns each recorded attempt's
/// verdict and where it moved its delivery (for the metrics).
async fn record(
    conn: &mut sqlx::AnyConnection,
    moved: &[Moved],
    now: i64,
) -> StoreResult<Vec<(Verdict, DeliveryState)>> {
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes: Vec<&Outcome> = moved.iter().map(|m| &m.outcome).collect();
    let recorded = outcomes::record(conn, &outcomes, now).await?;
    let mut done = Vec::with_capacity(recorded.len());
    for m in moved {
        if !recorded.contains(&m.outcome.attempt.delivery_id) {
            continue;
        }
        done.push((m.verdict.clone(), m.outcome.status));
        if m.verdict == Verdict::Gone {
            db::disable_endpoint(conn, &m.endpoint_id, "gone", now).await?;
        }
    }
    Ok(done)
}

/// Runs one attempt within its endpoint's bound and reports back.
async fn deliver(
    state: AppState,
    clients: Clients,
    claimed: Claimed,
    gate: Gate,
    done: mpsc::UnboundedSender<Finished>,
) {
    // Held until the outcome is on its way, so a `Gone` is seen by the
    // next attempt to this endpoint before it starts.
    let permit = gate.permits.acquire_owned().await;
    let now = state.now();
    if permit.is_err() || gate.gone.load(Ordering::SeqCst) {
        let _ = done.send(Finished {
            claimed,
            attempted_at: now,
            result: None,
        });
        return;
    }
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
    if result.verdict == Verdict::Gone {
        gate.gone.store(true, Ordering::SeqCst);
    }
    let _ = done.send(Finished {
        claimed,
        attempted_at: now,
        result: Some(result),
    });
    drop(permit);
}
