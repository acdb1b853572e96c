//! Realtime: single-use socket tokens minted server to server, and the
//! WebSocket that pushes the merchant's events (the same objects webhooks
//! deliver) as they are committed.
//!
//! A pump tails the outbox table and broadcasts each new event to this
//! instance's sockets; a lockdown's or suspension's alert closes the
//! sockets of that merchant and environment, and a key's revocation or roll
//! closes the sockets opened with that key (see [`revocation`]). Every instance tails the shared database, so an event
//! made on one instance reaches sockets held by any other: the database is
//! the fan-out, within one poll (100 ms) of the commit. Events that commit
//! out of order are caught by [`tail`].

mod revocation;
mod tail;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use paygate_proto::credentials::{generate_opaque_token, is_opaque_token, token_hash};
use paygate_proto::realtime::{CreateRealtimeToken, RealtimeToken};
use paygate_proto::{Environment, ErrorCode, Scope};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row as _;
use tokio::sync::{broadcast, watch, Notify};

use crate::app::AppState;
use crate::auth::Caller;
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::store::{Store, StoreResult};

/// How long a minted token can wait to be used.
pub const WS_TOKEN_TTL_SECS: i64 = 60;
const WS_TOKEN_PREFIX: &str = "wst_";
const POLL_EVERY: Duration = Duration::from_millis(100);
const PING_EVERY: Duration = Duration::from_secs(30);

/// An event as committed, ready to push.
#[derive(Debug)]
pub struct Pushed {
    merchant_id: String,
    env: String,
    payload: String,
    /// The ids the event's object names (its own and its checkout session's).
    related: Vec<String>,
    /// A lockdown's or suspension's alert: the merchant's sockets in that
    /// environment close.
    ends_sockets: bool,
    /// A key's revocation or roll: the sockets opened with it close.
    key_end: Option<revocation::KeyEnd>,
}

/// The fan-out point of this instance's sockets.
pub struct RealtimeHub {
    sender: broadcast::Sender<Arc<Pushed>>,
    wake: Notify,
}

impl Default for RealtimeHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(4096).0,
            wake: Notify::new(),
        }
    }
}

impl RealtimeHub {
    /// Asks the pump to look for new events now rather than at its next tick.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }
}

/// Tails the outbox from its current end and broadcasts what is new, until
/// `shutdown` turns true.
pub async fn run_pump(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tail = match latest_seq(state.store()).await {
        Ok(seq) => tail::Tail::after(seq),
        Err(err) => {
            tracing::error!(error = %err, "realtime pump could not start");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = state.realtime().wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        let awaited = tail.awaited(std::time::Instant::now());
        match events_after(state.store(), tail.high(), &awaited).await {
            Ok(events) => {
                for (seq, event) in events {
                    if !tail.is_unseen(seq) {
                        continue;
                    }
                    tail.pushed(seq, std::time::Instant::now());
                    // No receiver is fine: nobody is listening.
                    let _ = state.realtime().sender.send(Arc::new(event));
                }
            }
            Err(err) => tracing::warn!(error = %err, "realtime pump could not read events"),
        }
    }
}

async fn latest_seq(store: &Store) -> StoreResult<i64> {
    let row = sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM events")
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get("seq")?)
}

/// Events numbered above `high` (at most 500), and those of `awaited` that
/// have committed since, in number order.
async fn events_after(store: &Store, high: i64, awaited: &[i64]) -> StoreResult<Vec<(i64, Pushed)>> {
    let late: Vec<String> = (0..awaited.len()).map(|i| format!("${}", i + 2)).collect();
    let late = if late.is_empty() {
        String::new()
    } else {
        format!(" OR seq IN ({})", late.join(", "))
    };
    let sql = format!(
        "SELECT seq, merchant_id, env, payload FROM events WHERE seq > $1{late} ORDER BY seq LIMIT {}",
        500 + awaited.len()
    );
    let mut query = sqlx::query(&sql).bind(high);
    for seq in awaited {
        query = query.bind(*seq);
    }
    let rows = query.fetch_all(store.pool()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let payload: String = row.try_get("payload")?;
        let related = related_ids(&payload);
        let ends_sockets = ends_sockets(&payload);
        let key_end = revocation::key_end(&payload);
        out.push((
            row.try_get("seq")?,
            Pushed {
                merchant_id: row.try_get("merchant_id")?,
                env: row.try_get("env")?,
                payload,
                related,
                ends_sockets,
                key_end,
            },
        ));
    }
    Ok(out)
}

/// Whether an event is the `security.alert` of a lockdown or a suspension.
fn ends_sockets(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload).is_ok_and(|value| {
        let kind = &value["data"]["object"]["type"];
        value["type"] == "security.alert"
            && (kind == crate::lockdown::ALERT_KIND || kind == crate::suspension::ALERT_SUSPENDED)
    })
}

/// The ids an event concerns: its object's `id` and `checkout_session`.
fn related_ids(payload: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<Value>(payload) else {
        return Vec::new();
    };
    let object = &value["data"]["object"];
    // A payment names its checkout session in `metadata.checkout_session`.
    [
        &object["id"],
        &object["checkout_session"],
        &object["metadata"]["checkout_session"],
    ]
    .iter()
    .filter_map(|v| v.as_str().map(str::to_owned))
    .collect()
}

#[utoipa::path(
    post,
    path = "/v1/realtime/tokens",
    tag = "realtime",
    request_body = CreateRealtimeToken,
    responses((status = 200, body = RealtimeToken), (status = 401, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateRealtimeToken>,
) -> ApiResult<ApiJson<RealtimeToken>> {
    caller.require(Scope::PaymentsRead)?;
    if let Some(session) = &body.checkout_session {
        if !session.starts_with("cs_") || session.len() > 64 {
            return Err(ApiError::field(
                "checkout_session",
                "is not a checkout session id (cs_...)",
            ));
        }
    }
    let token = mint(
        &state,
        &caller.merchant_id,
        caller.env,
        body.checkout_session.as_deref(),
        Some(&caller.key_id),
    )
    .await?;
    Ok(ApiJson(RealtimeToken {
        ws_token: token.expose_secret().to_owned(),
        expires_in: WS_TOKEN_TTL_SECS as u64,
    }))
}

/// Mints a single-use socket token for a merchant's events (or one
/// session's), with the API key it was minted with (none for a payor's).
pub async fn mint(
    state: &AppState,
    merchant: &paygate_proto::MerchantId,
    env: Environment,
    checkout_session: Option<&str>,
    key_id: Option<&str>,
) -> ApiResult<secrecy::SecretString> {
    let token = generate_opaque_token(WS_TOKEN_PREFIX, &mut rand::rngs::OsRng);
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    sqlx::query(
        "INSERT INTO ws_tokens (token_hash, merchant_id, env, checkout_session, created_at, expires_at, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash(token.expose_secret()))
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(checkout_session)
    .bind(now)
    .bind(now + WS_TOKEN_TTL_SECS)
    .bind(key_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM ws_tokens WHERE expires_at < $1")
        .bind(now - WS_TOKEN_TTL_SECS)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// What a redeemed token lets a socket see.
#[derive(Debug, Clone)]
struct Grant {
    merchant_id: String,
    env: Environment,
    checkout_session: Option<String>,
    /// The key the token was minted with, and when that key stops working.
    key: Option<(String, Option<i64>)>,
}

impl Grant {
    fn owns(&self, event: &Pushed) -> bool {
        event.merchant_id == self.merchant_id && event.env == self.env.as_str()
    }

    fn sees(&self, event: &Pushed) -> bool {
        self.owns(event)
            && self
                .checkout_session
                .as_ref()
                .is_none_or(|cs| event.related.iter().any(|id| id == cs))
    }
}

/// Redeems a token once: unknown, expired and used tokens are all refused alike.
async fn redeem(state: &AppState, token: &str) -> ApiResult<Grant> {
    let invalid = || ApiError::new(ErrorCode::InvalidWsToken);
    if !is_opaque_token(token, WS_TOKEN_PREFIX) {
        return Err(invalid());
    }
    let now = state.now();
    // A suspended merchant's token is refused and left unused. (Read before
    // the write transaction: on SQLite a read inside it could make its
    // upgrade fail against another instance's commit.)
    let suspended = sqlx::query(
        "SELECT m.status FROM ws_tokens t JOIN merchants m ON m.id = t.merchant_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND m.status = 'suspended'",
    )
    .bind(token_hash(token))
    .bind(now)
    .fetch_optional(state.store().pool())
    .await?;
    if suspended.is_some() {
        return Err(ApiError::new(ErrorCode::AccountSuspended));
    }
    let mut tx = state.store().begin_write().await?;
    let row = sqlx::query(
        "UPDATE ws_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING merchant_id, env, checkout_session, key_id",
    )
    .bind(now)
    .bind(token_hash(token))
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(invalid)?;
    let env: String = row.try_get("env").map_err(ApiError::internal)?;
    let key_id: Option<String> = row.try_get("key_id").map_err(ApiError::internal)?;
    // A token outlives no revocation: its key must still work now.
    let key = match key_id {
        Some(id) => {
            let record = state.store().key_by_id(&id).await?.ok_or_else(invalid)?;
            if record.revoked_at.is_some() || !crate::key_age::works(&record, &state.config().auth, now) {
                return Err(invalid());
            }
            Some((id, record.expires_at))
        }
        None => None,
    };
    Ok(Grant {
        merchant_id: row.try_get("merchant_id").map_err(ApiError::internal)?,
        env: Environment::parse(&env).ok_or_else(|| ApiError::internal("ws token env"))?,
        checkout_session: row.try_get("checkout_session").map_err(ApiError::internal)?,
        key,
    })
}

#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    ws_token: Option<String>,
}

/// `GET /v1/realtime?ws_token=…`: the token is checked before the upgrade.
pub async fn connect(
    State(state): State<AppState>,
    Query(query): Query<ConnectQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Listen before the token is checked: an event that ends this socket
    // and commits after the check is then never missed.
    let events = state.realtime().sender.subscribe();
    let grant = redeem(&state, query.ws_token.as_deref().unwrap_or_default()).await?;
    let upgrade = upgrade
        .map_err(|_| ApiError::new(ErrorCode::BadRequest).with_detail("Connect with a WebSocket upgrade (wss://)."))?;
    Ok(upgrade.on_upgrade(move |socket| serve_socket(socket, events, grant, state)))
}

async fn serve_socket(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<Pushed>>,
    grant: Grant,
    state: AppState,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    let key_id = grant.key.as_ref().map(|(id, _)| id.as_str());
    let mut closes_at = grant
        .key
        .as_ref()
        .and_then(|(_, at)| *at)
        .map(|at| revocation::deadline(at, state.now()));
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) if grant.owns(&event) => {
                    if grant.sees(&event) && socket.send(Message::Text(event.payload.clone().into())).await.is_err() {
                        return;
                    }
                    let key_end = event.key_end.as_ref().filter(|end| Some(end.key_id.as_str()) == key_id);
                    if let Some(at) = key_end.map(|end| end.at) {
                        closes_at = Some(revocation::deadline(at.unwrap_or(i64::MIN), state.now()));
                    }
                    if event.ends_sockets || closes_at.is_some_and(|at| at <= std::time::Instant::now()) {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a realtime socket fell behind; closing it so the client reconnects");
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            () = revocation::until(closes_at) => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_see_only_their_merchant_env_and_session() {
        let event = Pushed {
            merchant_id: "MCH-ZA-AAAAAA".into(),
            env: "test".into(),
            payload: String::new(),
            related: related_ids(r#"{"data":{"object":{"id":"pay_1","checkout_session":"cs_1"}}}"#),
            ends_sockets: false,
            key_end: None,
        };
        let grant = |m: &str, env, cs: Option<&str>| Grant {
            merchant_id: m.into(),
            env,
            checkout_session: cs.map(Into::into),
            key: None,
        };
        assert!(grant("MCH-ZA-AAAAAA", Environment::Test, None).sees(&event));
        assert!(grant("MCH-ZA-AAAAAA", Environment::Test, Some("cs_1")).sees(&event));
        assert!(!grant("MCH-ZA-AAAAAA", Environment::Test, Some("cs_2")).sees(&event));
        assert!(!grant("MCH-ZA-AAAAAA", Environment::Live, None).sees(&event));
        assert!(!grant("MCH-ZA-BBBBBB", Environment::Test, None).sees(&event));
    }
}
