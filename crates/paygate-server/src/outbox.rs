//! The event outbox: an event is a row written in the same transaction as the
//! change it reports, so there is no change without its event and no event
//! without its change. Webhooks and the realtime socket deliver these rows.

use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::clock::rfc3339;
use crate::ids;
use crate::store::StoreResult;

/// Writes an event inside the caller's transaction and returns its id.
pub async fn record_event(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    event_type: &str,
    object: Value,
    now: i64,
) -> StoreResult<String> {
    let id = ids::new_id("evt");
    let payload = json!({
        "id": id,
        "type": event_type,
        "created_at": rfc3339(now),
        "env": env.as_str(),
        "data": { "object": object },
    });
    sqlx::query("INSERT INTO events (id, merchant_id, env, type, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(event_type)
        .bind(payload.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(id)
}
