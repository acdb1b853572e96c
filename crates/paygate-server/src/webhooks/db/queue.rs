//! The worker's side of the store: events nobody has planned, deliveries
//! planned from them, and due deliveries claimed under a lease.

use paygate_proto::{Environment, MerchantId};
use sqlx::{AnyConnection, Row as _};

use super::corrupt;
use crate::crypto::Sealed;
use crate::store::{lock_rows, RowLock, StoreResult};
use crate::webhooks::delivery_state::DeliveryState;

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
    // The first row in `webhook_deliveries_due` order that qualifies, not
    // `MIN()`: that would visit every pending row (a slow endpoint's backlog)
    // on each idle turn.
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM webhook_deliveries WHERE status = 'pending' \
         AND (lease_until IS NULL OR lease_until < $1) \
         AND merchant_id IN (SELECT id FROM merchants WHERE status = 'active') \
         ORDER BY next_attempt_at LIMIT 1",
    )
    .bind(now)
    .fetch_optional(conn)
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
