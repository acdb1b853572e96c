//! Leaked-key reports (docs/api.md section 14): anyone who finds a Paygate key can
//! report it here. Holding the key is the proof, so no other credential is
//! asked for. A valid key is revoked at once with its sessions, the report is
//! audited and the merchant gets a `security.alert`. Every answer is the same
//! `202`, so the endpoint tells nothing about keys.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use paygate_proto::types::LeakReceipt;
use paygate_proto::ApiKey;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::alerts::{self, Alert};
use crate::api_keys::{revoke_key, Actor};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::{ApiJson, ApiResult, ClientIp};

/// A report. The key in it may be live, so it is held in a redacting type.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// The key as found.
    #[schema(value_type = String)]
    pub key: SecretString,
}

#[utoipa::path(
    post,
    path = "/v1/leaked-keys",
    operation_id = "reportLeakedKey",
    tag = "security",
    request_body = LeakReport,
    responses((status = 202, description = "Always the same answer, whatever the key", body = LeakReceipt))
)]
pub async fn report(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(report): ApiJson<LeakReport>,
) -> ApiResult<Response> {
    // Only a key with a valid shape and checksum can reach the store.
    if let Ok(key) = ApiKey::parse(report.key.expose_secret().trim()) {
        if let Some(record) = state.store().key_by_hash(&key.lookup_hash()).await? {
            let actor = Actor {
                label: "leaked-key report".to_owned(),
                ip: Some(ip.to_string()),
            };
            if revoke_key(&state, &record.id, None, &actor).await?.is_some() {
                alert(&state, &record, ip).await?;
            }
        }
    }
    Ok((StatusCode::ACCEPTED, ApiJson(LeakReceipt { received: true })).into_response())
}

/// Tells the merchant, and the audit log, that one of its keys was reported.
async fn alert(state: &AppState, record: &crate::store::KeyRecord, ip: std::net::IpAddr) -> ApiResult<()> {
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let details = json!({ "key_id": record.id, "prefix": record.prefix, "action": "revoked" });
    let entry = AuditEntry::new("api_key.leak_reported", Outcome::Success)
        .merchant(&record.merchant_id, record.env)
        .actor("leaked-key report")
        .ip(ip)
        .details(details.clone());
    audit::record(tx.conn(), &entry, now).await?;
    let alert = Alert {
        merchant: &record.merchant_id,
        env: record.env,
        kind: "leaked_key_reported",
        actor: "leaked-key report",
        ip: Some(ip),
        details,
    };
    alerts::raise(tx.conn(), alert, now).await?;
    tx.commit().await?;
    Ok(())
}
