//! Attempt outcomes written in bulk: a worker turn moves all its finished
//! deliveries on with one statement per [`CHUNK`] rows and inserts their
//! attempts the same way, instead of two statements per attempt, so the
//! turn holds the writer (SQLite) or its row locks (PostgreSQL) briefly
//! whatever the delivery rate.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row as _};

use super::db::AttemptRecord;
use super::delivery_state::DeliveryState;
use crate::store::StoreResult;

/// Rows per statement (sqlx looks `$N` up linearly: keep statements small).
const CHUNK: usize = 32;

/// What a finished attempt does to its delivery.
pub struct Outcome {
    pub attempt: AttemptRecord,
    /// Where the attempt moved its delivery (pending: a retry at
    /// `next_attempt_at`).
    pub status: DeliveryState,
    pub next_attempt_at: Option<i64>,
}

/// Records every outcome whose delivery is still pending (not deleted with
/// its endpoint, not recorded already); returns those deliveries' ids.
pub async fn record(conn: &mut AnyConnection, outcomes: &[&Outcome], now: i64) -> StoreResult<HashSet<String>> {
    let mut moved = HashSet::new();
    for chunk in outcomes.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 4 + 2;
                format!(
                    "(${b}, ${}, CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    b + 1,
                    b + 2,
                    b + 3
                )
            })
            .collect();
        let sql = format!(
            "UPDATE webhook_deliveries SET status = v.column2, attempts = v.column3, next_attempt_at = v.column4, \
             lease_token = NULL, lease_until = NULL, updated_at = $1 FROM (VALUES {}) AS v \
             WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.status = '{pending}' RETURNING id",
            values.join(", "),
            pending = DeliveryState::Pending.as_str()
        );
        let mut query = sqlx::query(&sql).bind(now);
        for o in chunk {
            query = query
                .bind(&o.attempt.delivery_id)
                .bind(o.status.as_str())
                .bind(o.attempt.attempt)
                .bind(o.next_attempt_at);
        }
        for row in query.fetch_all(&mut *conn).await? {
            moved.insert(row.try_get::<String, _>("id")?);
        }
    }
    let attempts: Vec<&AttemptRecord> = outcomes
        .iter()
        .map(|o| &o.attempt)
        .filter(|a| moved.contains(&a.delivery_id))
        .collect();
    for chunk in attempts.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 7 + 1;
                let n: Vec<String> = (b..b + 7).map(|p| format!("${p}")).collect();
                format!("({})", n.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, response_status, duration_ms, \
             response_body, error) VALUES {} ON CONFLICT (delivery_id, attempt) DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for a in chunk {
            query = query
                .bind(&a.delivery_id)
                .bind(a.attempt)
                .bind(a.attempted_at)
                .bind(a.response_status)
                .bind(a.duration_ms)
                .bind(&a.response_body)
                .bind(a.error.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(moved)
}
