//! The delivery log: an endpoint's deliveries, newest first, each with
//! every attempt.

use sqlx::{AnyConnection, Row as _};

use super::{keyset_clause, AttemptRecord};
use crate::store::page::Page;
use crate::store::{StoreError, StoreResult};
use crate::webhooks::delivery_state::DeliveryState;

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
