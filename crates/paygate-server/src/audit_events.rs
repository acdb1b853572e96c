//! `GET /v1/audit-events` (`audit:read`): the merchant's audit rows, newest
//! first by default, with the list rules of docs/api.md section 7.

use axum::extract::State;
use paygate_proto::auth::AuditEvent;
use paygate_proto::{Environment, MerchantId, Scope};
use sqlx::Row as _;

use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Page, SortKey, SortValue};
use crate::http::{ApiError, ApiJson, ApiResult};

#[utoipa::path(
    get,
    path = "/v1/audit-events",
    operation_id = "listAuditEvents",
    tag = "audit",
    params(crate::http::list::ListQuery),
    responses(
        (status = 200, description = "A page of audit events", body = crate::openapi::schemas::AuditEventList),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<AuditEvent>>> {
    caller.require(Scope::AuditRead)?;
    Ok(ApiJson(
        audit_page(&state, &caller.merchant_id, caller.env, page).await?,
    ))
}

/// A page of the tenant's audit rows, newest first by default.
pub async fn audit_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: Page,
) -> ApiResult<ListReply<AuditEvent>> {
    // Decisions are written in batches: show everything recorded so far.
    state.auth().decisions().flush().await;
    // Rows are appended in sequence order; `createdAt` follows it.
    let page = page.supporting(&[SortKey::CreatedAt]);
    let after = match &page.after {
        Some(cursor) => match cursor.value {
            SortValue::Int(seq) => Some(seq),
            SortValue::Text(_) => return Err(ApiError::field("cursor", "is not a cursor from this list")),
        },
        None => None,
    };
    let filter = if after.is_some() {
        format!("AND seq {} $4", page.order.after_operator())
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT seq, id, action, outcome, reason, actor, ip, details, created_at FROM audit_events \
         WHERE merchant_id = $1 AND env = $2 {filter} ORDER BY seq {} LIMIT $3",
        page.order.sql()
    );
    let mut query = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(page.fetch_limit());
    if let Some(seq) = after {
        query = query.bind(seq);
    }
    let rows = query
        .fetch_all(state.store().pool())
        .await
        .map_err(ApiError::internal)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq").map_err(ApiError::internal)?;
        let details: String = row.try_get("details").map_err(ApiError::internal)?;
        let created_at: i64 = row.try_get("created_at").map_err(ApiError::internal)?;
        events.push((
            seq,
            AuditEvent {
                id: row.try_get("id").map_err(ApiError::internal)?,
                object: "audit_event".to_owned(),
                action: row.try_get("action").map_err(ApiError::internal)?,
                outcome: row.try_get("outcome").map_err(ApiError::internal)?,
                reason: row.try_get("reason").map_err(ApiError::internal)?,
                actor: row.try_get("actor").map_err(ApiError::internal)?,
                ip: row.try_get("ip").map_err(ApiError::internal)?,
                details: serde_json::from_str(&details).unwrap_or_default(),
                created_at: rfc3339(created_at),
            },
        ));
    }
    let reply = page.reply(events, |(seq, event)| (SortValue::Int(*seq), event.id.clone()));
    Ok(ListReply {
        object: reply.object,
        data: reply.data.into_iter().map(|(_, event)| event).collect(),
        has_more: reply.has_more,
        next_cursor: reply.next_cursor,
    })
}
