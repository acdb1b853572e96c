//! The security policy per merchant and environment (API.md 4.5):
//! `require_signature` and `require_token`, read and changed here, enforced
//! by `auth`. A change is audited and ends cached decisions at once.

use axum::extract::State;
use paygate_proto::auth::{SecurityPolicy, UpdateSecurityPolicy};
use paygate_proto::Scope;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::http::{ApiJson, ApiResult, ClientIp};
use crate::store::auth::{upsert_policy, PolicyRecord};

fn wire(policy: PolicyRecord) -> SecurityPolicy {
    SecurityPolicy {
        require_signature: policy.require_signature,
        require_token: policy.require_token,
    }
}

#[utoipa::path(
    get,
    path = "/v1/security/policy",
    tag = "security",
    responses(
        (status = 200, description = "The policy of this merchant and environment", body = SecurityPolicy),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<ApiJson<SecurityPolicy>> {
    caller.require(Scope::KeysManage)?;
    let policy = state.store().policy(&caller.merchant_id, caller.env).await?;
    Ok(ApiJson(wire(policy)))
}

#[utoipa::path(
    put,
    path = "/v1/security/policy",
    tag = "security",
    request_body = UpdateSecurityPolicy,
    responses(
        (status = 200, description = "The policy now in force", body = SecurityPolicy),
        (status = 400, body = paygate_proto::Problem),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    ApiJson(body): ApiJson<UpdateSecurityPolicy>,
) -> ApiResult<ApiJson<SecurityPolicy>> {
    caller.require(Scope::KeysManage)?;
    let now = state.now();
    let before = state.store().policy(&caller.merchant_id, caller.env).await?;
    let after = PolicyRecord {
        require_signature: body.require_signature.unwrap_or(before.require_signature),
        require_token: body.require_token.unwrap_or(before.require_token),
    };
    let mut tx = state.store().begin_write().await?;
    upsert_policy(tx.conn(), &caller.merchant_id, caller.env, after, now).await?;
    let entry = AuditEntry::new("security_policy.updated", Outcome::Success)
        .merchant(&caller.merchant_id, caller.env)
        .actor(&caller.key_prefix)
        .ip(client_ip.0)
        .details(json!({ "before": wire(before), "after": wire(after) }));
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(ApiJson(wire(after)))
}
