//! Webhook persistence: endpoints, deliveries and attempts. Every query is
//! written once with `$N` placeholders for both backends, and every query a
//! handler makes is filtered by merchant and environment.

use paygate_proto::{Environment, MerchantId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::delivery_state::{DeliveryEvent, DeliveryState};
use crate::crypto::Sealed;
use crate::store::page::{Page, SortValue};
use crate::store::{lock_rows, RowLock, StoreError, StoreResult};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

#[derive(Debug, Clone)]
pub struct EndpointRecord {
    pub id: String,
    pub merchant_id: MerchantId,
    pub env: Environment,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub secret: Sealed,
    pub secret_hint: String,
    pub previous: Option<Sealed>,
    pub previous_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EndpointRecord {
    /// Whether the endpoint wants events of `event_type`.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

const ENDPOINT_COLUMNS: &str = "id, merchant_id, env, url, description, events, status, disabled_reason, \
    secret_key_id, secret_sealed, secret_hint, previous_key_id, previous_sealed, previous_expires_at, created_at, updated_at";

fn endpoint_from_row(row: &AnyRow) -> StoreResult<EndpointRecord> {
    let merchant: String = row.try_get("merchant_id")?;
    let env: String = row.try_get("env")?;
    let events: String = row.try_get("events")?;
    let previous_key_id: Option<String> = row.try_get("previous_key_id")?;
    let previous_sealed: Option<Vec<u8>> = row.try_get("previous_sealed")?;
    Ok(EndpointRecord {
        id: row.try_get("id")?,
        merchant_id: MerchantId::parse(&merchant).map_err(|_| corrupt("webhook_endpoints.merchant_id"))?,
        env: Environment::parse(&env).ok_or_else(|| corrupt("webhook_endpoints.env"))?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: serde_json::from_str(&events).map_err(|_| corrupt("webhook_endpoints.events"))?,
        status: row.try_get("status")?,
        disabled_reason: row.try_get("disabled_reason")?,
        secret: Sealed {
            key_id: row.try_get("secret_key_id")?,
            bytes: row.try_get("secret_sealed")?,
        },
        secret_hint: row.try_get("secret_hint")?,
        previous: previous_key_id
            .zip(previous_sealed)
            .map(|(key_id, bytes)| Sealed { key_id, bytes }),
        previous_expires_at: row.try_get("previous_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert_endpoint(conn: &mut AnyConnection, e: &EndpointRecord) -> StoreResult<()> {
    let events = serde_json::to_string(&e.events).map_err(|_| corrupt("events"))?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, merchant_id, env, url, description, events, status, secret_key_id, \
         secret_sealed, secret_hint, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&e.id)
    .bind(e.merchant_id.as_str())
    .bind(e.env.as_str())
    .bind(&e.url)
    .bind(e.description.clone())
    .bind(events)
    .bind(&e.status)
    .bind(&e.secret.key_id)
    .bind(&e.secret.bytes)
    .bind(&e.secret_hint)
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn endpoint(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> StoreResult<Option<EndpointRecord>> {
    let sql =
        format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 AND env = $3");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(endpoint_from_row).transpose()
}

/// One page of a merchant's endpoints, newest first unless asked otherwise.
pub async fn list_endpoints(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
) -> StoreResult<Vec<EndpointRecord>> {
    let (after, cursor) = keyset_clause(page, "webhook_endpoints", 4);
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1 AND env = $2 {after} \
         ORDER BY created_at {o}, id {o} LIMIT $3",
        o = page.order.sql()
    );
    let mut query = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(page.fetch_limit());
    if let Some((value, id)) = cursor {
        query = query.bind(value).bind(id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(endpoint_from_row).collect()
}

/// `AND (created_at, id) after the cursor` for the table aliased `table`,
/// with its binds numbered from `first`.
fn keyset_clause(page: &Page, table: &str, first: usize) -> (String, Option<(i64, String)>) {
    match &page.after {
        Some(cursor) => {
            let value = match &cursor.value {
                SortValue::Int(v) => *v,
                SortValue::Text(_) => 0,
            };
            let op = page.order.after_operator();
            let (a, b) = (first, first + 1);
            (
                format!("AND ({table}.created_at {op} ${a} OR ({table}.created_at = ${a} AND {table}.id {op} ${b}))"),
                Some((value, cursor.id.clone())),
            )
        }
        None => (String::new(), None),
    }
}

/// Endpoints of a merchant and environment that take new deliveries.
pub async fn enabled_endpoints(
    conn: &mut AnyConnection,
    merchant: &str,
    env: &str,
) -> StoreResult<Vec<EndpointRecord>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1 AND env = $2 AND status = 'enabled'"
    );
    let rows = sqlx::query(&sql).bind(merchant).bind(env).fetch_all(conn).await?;
    rows.iter().map(endpoint_from_row).collect()
}

pub async fn delete_endpoint(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    // Attempts and deliveries go with it (ON DELETE CASCADE, spelled out for
    // backends where foreign keys are off).
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes `secret` current and keeps the current one signing until `previous_until`.
pub async fn rotate_secret(
    conn: &mut AnyConnection,
    id: &str,
    secret: &Sealed,
    hint: &str,
    previous: &Sealed,
    previous_until: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET secret_key_id = $1, secret_sealed = $2, secret_hint = $3, \
         previous_key_id = $4, previous_sealed = $5, previous_expires_at = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&secret.key_id)
    .bind(&secret.bytes)
    .bind(hint)
    .bind(&previous.key_id)
    .bind(&previous.bytes)
    .bind(previous_until)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Disables an endpoint and cancels what was still waiting for it.
pub async fn disable_endpoint(conn: &mut AnyConnection, id: &str, reason: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    // Only pending deliveries move; the final ones keep their state.
    let from = DeliveryState::Pending;
    if let Some(step) = from.on(DeliveryEvent::EndpointDisabled) {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, updated_at = $3 \
             WHERE endpoint_id = $4 AND status = $5",
        )
        .bind(step.state.as_str())
        .bind(step.next_attempt_at)
        .bind(now)
        .bind(id)
        .bind(from.as_str())
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// An event the outbox holds that no one has planned deliveries for yet.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub merchant_id: String,
    pub env: String,
    pub event_type: String,
}

/// Up to `limit` events nobody has planned, oldest first. On PostgreSQL
/// they stay locked until the caller's transaction ends and events another
/// instance's worker is planning are passed over, so workers plan disjoint
/// batches instead of queueing behind each other.
pub async fn undispatched_events(conn: &mut AnyConnection, limit: i64) -> StoreResult<Vec<PendingEvent>> {
    let sql = format!(
        "SELECT id, merchant_id, env, type FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT $1{}",
        lock_rows(conn, RowLock::SkipLocked)
    );
    let rows = sqlx::query(&sql).bind(limit).fetch_all(conn).await?;
    rows.iter()
        .map(|row| {
            Ok(PendingEvent {
                id: row.try_get("id")?,
                merchant_id: row.try_get("merchant_id")?,
                env: row.try_get("env")?,
                event_type: row.try_get("type")?,
            })
        })
        .collect()
}

/// Marks events planned; returns those this call marked (another worker
/// may have got to some first).
pub async fn mark_dispatched(conn: &mut AnyConnection, event_ids: &[&str], now: i64) -> StoreResult<Vec<String>> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (2..event_ids.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE events SET dispatched_at = $1 WHERE dispatched_at IS NULL AND id IN ({}) RETURNING id",
        marks.join(", ")
    );
    let mut query = sqlx::query_scalar(&sql).bind(now);
    for id in event_ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// A delivery to plan: (endpoint, event, merchant, env).
pub type PlannedDelivery<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Plans deliveries, due at once, a hundred rows per statement; returns
/// their ids in the order of `rows`.
pub async fn insert_deliveries(
    conn: &mut AnyConnection,
    rows: &[PlannedDelivery<'_>],
    now: i64,
) -> StoreResult<Vec<String>> {
    let ids: Vec<String> = rows.iter().map(|_| crate::ids::new_id("dlv")).collect();
    for (chunk, chunk_ids) in rows.chunks(100).zip(ids.chunks(100)) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 5 + 2;
                format!(
                    "(${b}, ${}, ${}, ${}, ${}, '{planned}', 0, $1, $1, $1)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    planned = DeliveryState::PLANNED.as_str()
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, env, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now);
        for ((endpoint, event, merchant, env), id) in chunk.iter().zip(chunk_ids) {
            query = query.bind(id).bind(*endpoint).bind(*event).bind(*merchant).bind(*env);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(ids)
}

/// The event as stored, for one merchant and environment.
pub async fn event(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> StoreResult<Option<PendingEvent>> {
    let row =
        sqlx::query("SELECT id, merchant_id, env, type FROM events WHERE id = $1 AND merchant_id = $2 AND env = $3")
            .bind(id)
            .bind(merchant.as_str())
            .bind(env.as_str())
            .fetch_optional(conn)
            .await?;
    row.map(|row| {
        Ok(PendingEvent {
            id: row.try_get("id")?,
            merchant_id: row.try_get("merchant_id")?,
            env: row.try_get("env")?,
            event_type: row.try_get("type")?,
        })
    })
    .transpose()
}

/// When the next waiting delivery falls due (for the worker's sleep), and
/// whether there are events to plan.
pub async fn next_work(conn: &mut AnyConnection, now: i64) -> StoreResult<(bool, Option<i64>)> {
    let planned: Option<String> = sqlx::query_scalar("SELECT id FROM events WHERE dispatched_at IS NULL LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    // Leased rows are in flight; an expired lease makes a row claimable again.
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending' \
         AND (lease_until IS NULL OR lease_until < $1) \
         AND merchant_id IN (SELECT id FROM merchants WHERE status = 'active')",
    )
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok((planned.is_some(), due))
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub env: Environment,
    pub attempts: i64,
    pub url: String,
    pub secret: Sealed,
    pub previous: Option<Sealed>,
    pub previous_expires_at: Option<i64>,
    pub payload: String,
}

/// Endpoints that have deliveries due and unleased, at most `limit`; a
/// suspended merchant's are left out, so they never crowd out the others.
pub async fn due_endpoints(conn: &mut AnyConnection, now: i64, limit: i64) -> StoreResult<Vec<String>> {
    let ids = sqlx::query_scalar(
        "SELECT DISTINCT endpoint_id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) \
         AND merchant_id IN (SELECT id FROM merchants WHERE status = 'active') LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(ids)
}

/// Leases up to `limit` of an endpoint's due deliveries to `token` until
/// `lease_until`, oldest first. Suspended merchants' deliveries wait. On
/// PostgreSQL, where workers of several instances claim at once, the inner
/// select takes `FOR UPDATE SKIP LOCKED`: rows another worker is claiming
/// are passed over rather than waited for, and the outer predicate re-checks
/// the lease (READ COMMITTED re-evaluates it on the latest row), so two
/// workers never both win a row. A lease that runs out (its instance died)
/// makes the row claimable again.
pub async fn claim_for_endpoint(
    conn: &mut AnyConnection,
    token: &str,
    endpoint_id: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<u64> {
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_token = $1, lease_until = $2 \
         WHERE (lease_until IS NULL OR lease_until < $3) AND id IN (SELECT id FROM webhook_deliveries \
           WHERE endpoint_id = $4 AND status = 'pending' AND next_attempt_at <= $3 \
           AND (lease_until IS NULL OR lease_until < $3) \
           AND merchant_id IN (SELECT id FROM merchants WHERE status = 'active') \
           ORDER BY next_attempt_at LIMIT $5{})",
        lock_rows(conn, RowLock::SkipLocked)
    );
    let claimed = sqlx::query(&sql)
        .bind(token)
        .bind(lease_until)
        .bind(now)
        .bind(endpoint_id)
        .bind(limit)
        .execute(conn)
        .await?;
    Ok(claimed.rows_affected())
}

/// The deliveries leased to `token`, with what sending them needs.
pub async fn claimed_by(conn: &mut AnyConnection, token: &str) -> StoreResult<Vec<Claimed>> {
    let rows = sqlx::query(
        "SELECT d.id, d.endpoint_id, d.event_id, d.env, d.attempts, e.url, e.secret_key_id, e.secret_sealed, \
         e.previous_key_id, e.previous_sealed, e.previous_expires_at, ev.payload \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN events ev ON ev.id = d.event_id \
         WHERE d.lease_token = $1",
    )
    .bind(token)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let env: String = row.try_get("env")?;
            let previous_key_id: Option<String> = row.try_get("previous_key_id")?;
            let previous_sealed: Option<Vec<u8>> = row.try_get("previous_sealed")?;
            Ok(Claimed {
                id: row.try_get("id")?,
                endpoint_id: row.try_get("endpoint_id")?,
                event_id: row.try_get("event_id")?,
                env: Environment::parse(&env).ok_or_else(|| corrupt("webhook_deliveries.env"))?,
                attempts: row.try_get("attempts")?,
                url: row.try_get("url")?,
                secret: Sealed {
                    key_id: row.try_get("secret_key_id")?,
                    bytes: row.try_get("secret_sealed")?,
                },
                previous: previous_key_id
                    .zip(previous_sealed)
                    .map(|(key_id, bytes)| Sealed { key_id, bytes }),
                previous_expires_at: row.try_get("previous_expires_at")?,
                payload: row.try_get("payload")?,
            })
        })
        .collect()
}

/// What one attempt came to, as the worker records it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub response_status: Option<i64>,
    pub duration_ms: i64,
    pub response_body: String,
    pub error: Option<String>,
}

/// A delivery as listed, with its attempts filled in afterwards.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryState,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub attempts: Vec<AttemptRecord>,
}

fn delivery_state(text: &str) -> StoreResult<DeliveryState> {
    DeliveryState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("webhook delivery status {text:?}")))
}

/// One page of an endpoint's deliveries, each with its attempts.
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    page: &Page,
) -> StoreResult<Vec<DeliveryRow>> {
    let (after, cursor) = keyset_clause(page, "d", 3);
    let sql = format!(
        "SELECT d.id, d.endpoint_id, d.event_id, ev.type, d.status, d.next_attempt_at, d.created_at \
         FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id WHERE d.endpoint_id = $1 {after} \
         ORDER BY d.created_at {o}, d.id {o} LIMIT $2",
        o = page.order.sql()
    );
    let mut query = sqlx::query(&sql).bind(endpoint_id).bind(page.fetch_limit());
    if let Some((value, id)) = cursor {
        query = query.bind(value).bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut deliveries = rows
        .iter()
        .map(|row| {
            Ok(DeliveryRow {
                id: row.try_get("id")?,
                endpoint_id: row.try_get("endpoint_id")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("type")?,
                status: delivery_state(&row.try_get::<String, _>("status")?)?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                created_at: row.try_get("created_at")?,
                attempts: Vec::new(),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    if deliveries.is_empty() {
        return Ok(deliveries);
    }
    let marks: Vec<String> = (1..=deliveries.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT delivery_id, attempt, attempted_at, response_status, duration_ms, response_body, error \
         FROM webhook_attempts WHERE delivery_id IN ({}) ORDER BY attempt",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for d in &deliveries {
        query = query.bind(&d.id);
    }
    for row in query.fetch_all(conn).await? {
        let attempt = AttemptRecord {
            delivery_id: row.try_get("delivery_id")?,
            attempt: row.try_get("attempt")?,
            attempted_at: row.try_get("attempted_at")?,
            response_status: row.try_get("response_status")?,
            duration_ms: row.try_get("duration_ms")?,
            response_body: row.try_get("response_body")?,
            error: row.try_get("error")?,
        };
        if let Some(d) = deliveries.iter_mut().find(|d| d.id == attempt.delivery_id) {
            d.attempts.push(attempt);
        }
    }
    Ok(deliveries)
}
