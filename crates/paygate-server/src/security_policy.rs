//! The security policy per merchant and environment (docs/api.md section 4.5):
//! `require_signature` and `require_token`, read and changed here, enforced
//! by `auth`. A change is audited and ends cached decisions at once.

use axum::extract::State;
use paygate_proto::auth::{SecurityPolicy, UpdateSecurityPolicy};
use paygate_proto::{Environment, MerchantId, Scope};
use serde_json::json;

use crate::api_keys::Actor;
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
    operation_id = "retrieveSecurityPolicy",
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
    Ok(ApiJson(current_policy(&state, &caller.merchant_id, caller.env).await?))
}

#[utoipa::path(
    put,
    path = "/v1/security/policy",
    operation_id = "updateSecurityPolicy",
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
    let actor = Actor::api(&caller, client_ip);
    Ok(ApiJson(
        update_policy(&state, &caller.merchant_id, caller.env, body, &actor).await?,
    ))
}

/// The tenant's policy now in force.
pub async fn current_policy(state: &AppState, merchant: &MerchantId, env: Environment) -> ApiResult<SecurityPolicy> {
    Ok(wire(state.store().policy(merchant, env).await?))
}

/// Changes the fields given, keeps the others; audited with before and after.
pub async fn update_policy(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    body: UpdateSecurityPolicy,
    actor: &Actor,
) -> ApiResult<SecurityPolicy> {
    let now = state.now();
    let before = state.store().policy(merchant, env).await?;
    let after = PolicyRecord {
        require_signature: body.require_signature.unwrap_or(before.require_signature),
        require_token: body.require_token.unwrap_or(before.require_token),
    };
    let mut tx = state.store().begin_write().await?;
    upsert_policy(tx.conn(), merchant, env, after, now).await?;
    let entry = actor.stamp(
        AuditEntry::new("security_policy.updated", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({ "before": wire(before), "after": wire(after) })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(wire(after))
}
