//! `security.alert` (docs/api.md sections 12 and 14): one way to raise an alert, so
//! every alert reaches the merchant's webhooks and realtime socket (an outbox
//! event), the audit log and the server log alike, written inside the
//! caller's transaction with the change that caused it.

use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::audit::{self, AuditEntry, Outcome};
use crate::outbox;
use crate::store::StoreResult;

/// One alert: its `type` (for example `leaked_key_reported`), who raised it,
/// and the details the merchant needs to act on it. Details must never hold a
/// secret. An object gets `type` added; anything else is wrapped.
pub struct Alert<'a> {
    pub merchant: &'a MerchantId,
    pub env: Environment,
    pub kind: &'static str,
    pub actor: &'a str,
    pub ip: Option<std::net::IpAddr>,
    pub details: Value,
}

/// Records the alert as a `security.alert` event and a `security.alert`
/// audit row in `conn`'s transaction, and logs it. Returns the event id.
pub async fn raise(conn: &mut AnyConnection, alert: Alert<'_>, now: i64) -> StoreResult<String> {
    let object = match alert.details {
        Value::Object(mut fields) => {
            fields.insert("type".into(), Value::from(alert.kind));
            Value::Object(fields)
        }
        other => json!({ "type": alert.kind, "details": other }),
    };
    let event_id = outbox::record_event(
        &mut *conn,
        alert.merchant,
        alert.env,
        "security.alert",
        object.clone(),
        now,
    )
    .await?;
    let mut entry = AuditEntry::new("security.alert", Outcome::Success)
        .merchant(alert.merchant, alert.env)
        .actor(alert.actor)
        .reason(alert.kind)
        .details(object);
    if let Some(ip) = alert.ip {
        entry = entry.ip(ip);
    }
    audit::record(conn, &entry, now).await?;
    tracing::warn!(
        alert = alert.kind,
        merchant = alert.merchant.as_str(),
        env = alert.env.as_str(),
        event_id = %event_id,
        "security.alert"
    );
    Ok(event_id)
}
