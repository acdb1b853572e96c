//! The endpoints a merchant manages: create, read, list, rotate the
//! secret, disable, delete.

use paygate_proto::{Environment, MerchantId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{corrupt, keyset_clause};
use crate::crypto::Sealed;
use crate::store::page::Page;
use crate::store::StoreResult;
use crate::webhooks::delivery_state::{DeliveryEvent, DeliveryState};

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
