//! Lockdown (docs/api.md section 14, "revoke all API tokens"): one call that
//! stops every credential of a merchant in one environment at once and
//! issues a single fresh key and secret, shown once to the caller.
//!
//! In one transaction: every key is revoked, every token session ended,
//! every unused ws token spent, every open checkout session expired, the new
//! key inserted, the revocation epoch bumped (so every instance drops its
//! caches on its next request), an audit row written and a `security.alert`
//! (`lockdown`) raised. Sockets already open close when they see that alert.
//!
//! Callers: `POST /v1/security/lockdown`, `paygate merchant lockdown`, and
//! the dashboard, each passing who acted as an [`Actor`].

use axum::extract::State;
use paygate_proto::types::{IssuedApiKey, LockdownReply};
use paygate_proto::{Environment, MerchantId, Scope};
use serde_json::json;
use sqlx::AnyConnection;

use crate::alerts::{self, Alert};
use crate::api_keys::{key_info, Actor};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::http::{ApiError, ApiJson, ApiResult, ClientIp};
use crate::keys::{prepare_key, IssuedKey, KeySpec};
use crate::store::auth::bump_epoch;
use crate::store::{insert_key, key_by_id_in};

/// The `type` of the `security.alert` a lockdown raises.
pub const ALERT_KIND: &str = "lockdown";

/// What a lockdown ended, and the one key that works afterwards.
#[derive(Debug)]
pub struct Lockdown {
    pub locked_at: i64,
    pub revoked_keys: u64,
    pub ended_sessions: u64,
    pub spent_ws_tokens: u64,
    pub expired_checkout_sessions: u64,
    pub issued: IssuedKey,
    pub info: paygate_proto::types::ApiKeyInfo,
}

/// Locks `merchant` down in `env` on behalf of `actor`.
pub async fn lock_down(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    actor: &Actor,
) -> ApiResult<Lockdown> {
    let now = state.now();
    let prepared = prepare_key(state.master_key(), merchant, env, &KeySpec::named("lockdown"), now)?;
    let mut tx = state.store().begin_write().await?;
    let conn = tx.conn();
    let revoked_keys = end_all(
        conn,
        "UPDATE api_keys SET revoked_at = $1 WHERE merchant_id = $2 AND env = $3 AND revoked_at IS NULL",
        merchant,
        env,
        now,
    )
    .await?;
    let ended_sessions = end_all(
        conn,
        "UPDATE auth_sessions SET revoked_at = $1 WHERE merchant_id = $2 AND env = $3 AND revoked_at IS NULL",
        merchant,
        env,
        now,
    )
    .await?;
    let spent_ws_tokens = end_all(
        conn,
        "UPDATE ws_tokens SET used_at = $1 WHERE merchant_id = $2 AND env = $3 AND used_at IS NULL",
        merchant,
        env,
        now,
    )
    .await?;
    let expired_checkout_sessions = end_all(
        conn,
        "UPDATE checkout_sessions SET status = 'expired', expires_at = $1 \
         WHERE merchant_id = $2 AND env = $3 AND status = 'open' AND expires_at > $1",
        merchant,
        env,
        now,
    )
    .await?;
    insert_key(&mut *conn, &prepared.record).await?;
    bump_epoch(conn).await?;
    let record = key_by_id_in(&mut *conn, &prepared.issued.id)
        .await?
        .ok_or_else(|| ApiError::internal("lockdown key vanished"))?;
    let info = key_info(&record);
    let details = json!({
        "revoked_keys": revoked_keys,
        "ended_sessions": ended_sessions,
        "spent_ws_tokens": spent_ws_tokens,
        "expired_checkout_sessions": expired_checkout_sessions,
        "new_key_id": info.id,
        "new_prefix": info.prefix,
    });
    let entry = actor.stamp(
        AuditEntry::new("security.lockdown", Outcome::Success)
            .merchant(merchant, env)
            .details(details.clone()),
    );
    audit::record(&mut *conn, &entry, now).await?;
    let alert = Alert {
        merchant,
        env,
        kind: ALERT_KIND,
        actor: &actor.label,
        ip: actor.ip.as_deref().and_then(|ip| ip.parse().ok()),
        details,
    };
    alerts::raise(conn, alert, now).await?;
    tx.commit().await?;
    state.realtime().nudge();
    Ok(Lockdown {
        locked_at: now,
        revoked_keys,
        ended_sessions,
        spent_ws_tokens,
        expired_checkout_sessions,
        issued: prepared.issued,
        info,
    })
}

/// Runs one "end everything of this merchant and environment" update.
async fn end_all(
    conn: &mut AnyConnection,
    sql: &str,
    merchant: &MerchantId,
    env: Environment,
    now: i64,
) -> ApiResult<u64> {
    let result = sqlx::query(sql)
        .bind(now)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

/// The API's answer: what stopped, and the one new key and secret.
pub fn reply(env: Environment, lockdown: Lockdown) -> LockdownReply {
    LockdownReply {
        object: "lockdown".to_owned(),
        env,
        locked_at: crate::clock::rfc3339(lockdown.locked_at),
        revoked_keys: lockdown.revoked_keys,
        ended_sessions: lockdown.ended_sessions,
        spent_ws_tokens: lockdown.spent_ws_tokens,
        expired_checkout_sessions: lockdown.expired_checkout_sessions,
        new_key: IssuedApiKey {
            info: lockdown.info,
            key: lockdown.issued.key.expose().to_owned(),
            secret: lockdown.issued.secret.expose().to_owned(),
        },
    }
}

#[utoipa::path(
    post,
    path = "/v1/security/lockdown",
    operation_id = "createLockdown",
    tag = "security",
    responses(
        (status = 200, description = "Everything of this merchant and environment stopped; the one new key and secret, shown this once", body = LockdownReply),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
) -> ApiResult<ApiJson<LockdownReply>> {
    caller.require(Scope::KeysManage)?;
    caller.require_secret()?;
    let actor = Actor::api(&caller, client_ip);
    let lockdown = lock_down(&state, &caller.merchant_id, caller.env, &actor).await?;
    Ok(ApiJson(reply(caller.env, lockdown)))
}
