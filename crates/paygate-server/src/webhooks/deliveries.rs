//! An endpoint's delivery log, and redelivery of an event (`webhooks:manage`):
//! the API routes and the functions the dashboard shares.

use axum::extract::{Path, State};
use bytes::Bytes;
use http::HeaderMap;
use paygate_proto::webhooks::{Delivery, DeliveryAttempt, Redeliver};
use paygate_proto::{Environment, ErrorCode, MerchantId, Scope};

use super::db::{self, DeliveryRow, EndpointRecord};
use super::delivery_state::DeliveryState;
use super::endpoints::{find, listed, not_found, reply, Listed};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Page, SortKey};
use crate::http::{ApiError, ApiJson, ApiResult};

fn delivery_to_wire(row: &DeliveryRow) -> Delivery {
    Delivery {
        id: row.id.clone(),
        object: "webhook_delivery".to_owned(),
        endpoint: row.endpoint_id.clone(),
        event: row.event_id.clone(),
        event_type: row.event_type.clone(),
        status: row.status.as_str().to_owned(),
        next_attempt_at: row.next_attempt_at.map(rfc3339),
        created_at: rfc3339(row.created_at),
        attempts: row
            .attempts
            .iter()
            .map(|a| DeliveryAttempt {
                attempt: u32::try_from(a.attempt).unwrap_or(u32::MAX),
                attempted_at: rfc3339(a.attempted_at),
                response_status: a.response_status.and_then(|s| u16::try_from(s).ok()),
                duration_ms: u64::try_from(a.duration_ms).unwrap_or(0),
                response_body: a.response_body.clone(),
                error: a.error.clone(),
            })
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}/deliveries",
    operation_id = "listWebhookEndpointDeliveries",
    tag = "webhooks",
    params(crate::http::list::ListQuery),
    responses((status = 200, description = "The endpoint's deliveries, newest first, each with every attempt", body = crate::openapi::schemas::DeliveryList), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    page: Page,
) -> ApiResult<ApiJson<ListReply<Listed<Delivery>>>> {
    caller.require(Scope::WebhooksManage)?;
    Ok(ApiJson(
        deliveries_page(&state, &caller.merchant_id, caller.env, &id, page).await?,
    ))
}

/// A page of an endpoint's deliveries, newest first, each with its attempts.
pub async fn deliveries_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    page: Page,
) -> ApiResult<ListReply<Listed<Delivery>>> {
    let page = page.supporting(&[SortKey::CreatedAt]);
    let endpoint = find(state, merchant, env, id).await?;
    let mut conn = state.store().pool().acquire().await.map_err(ApiError::internal)?;
    let rows = db::list_deliveries(&mut conn, &endpoint.id, &page)
        .await?
        .iter()
        .map(|d| listed(delivery_to_wire(d), d.created_at, &d.id))
        .collect();
    Ok(reply(&page, rows))
}

#[utoipa::path(
    post,
    path = "/v1/events/{id}/redeliver",
    operation_id = "redeliverEvent",
    tag = "webhooks",
    request_body(content = Option<Redeliver>, description = "Optional: {\"endpoint\": \"we_...\"}; without it, every enabled endpoint subscribed to the event"),
    responses((status = 200, description = "The deliveries planned (one page)", body = crate::openapi::schemas::DeliveryList), (status = 404, body = paygate_proto::Problem), (status = 409, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiJson<ListReply<Delivery>>> {
    caller.require(Scope::WebhooksManage)?;
    // No body (or `null`, as the document allows) means every subscribed endpoint.
    let request: Redeliver = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        Redeliver { endpoint: None }
    } else {
        if !crate::http::json::is_json(&headers) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
        }
        crate::http::json::parse_json(&body)?
    };
    let planned = redeliver_event(
        &state,
        &caller.merchant_id,
        caller.env,
        &id,
        request.endpoint.as_deref(),
    )
    .await?;
    Ok(ApiJson(ListReply {
        object: "list",
        data: planned,
        has_more: false,
        next_cursor: None,
    }))
}

/// Plans a new delivery of event `id` to one enabled endpoint, or to every
/// enabled endpoint subscribed to it, and wakes the sender.
pub async fn redeliver_event(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    endpoint: Option<&str>,
) -> ApiResult<Vec<Delivery>> {
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let event = db::event(tx.conn(), merchant, env, id).await?.ok_or_else(not_found)?;
    let targets: Vec<EndpointRecord> = match endpoint {
        Some(endpoint_id) => {
            let endpoint = db::endpoint(tx.conn(), merchant, env, endpoint_id)
                .await?
                .ok_or_else(not_found)?;
            if endpoint.status != "enabled" {
                return Err(ApiError::new(ErrorCode::InvalidState).with_detail("The endpoint is disabled."));
            }
            vec![endpoint]
        }
        None => db::enabled_endpoints(tx.conn(), merchant.as_str(), env.as_str())
            .await?
            .into_iter()
            .filter(|e| e.subscribes_to(&event.event_type))
            .collect(),
    };
    let rows: Vec<db::PlannedDelivery<'_>> = targets
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                event.id.as_str(),
                event.merchant_id.as_str(),
                event.env.as_str(),
            )
        })
        .collect();
    let ids = db::insert_deliveries(tx.conn(), &rows, now).await?;
    let planned: Vec<Delivery> = targets
        .iter()
        .zip(ids)
        .map(|(endpoint, id)| Delivery {
            id,
            object: "webhook_delivery".to_owned(),
            endpoint: endpoint.id.clone(),
            event: event.id.clone(),
            event_type: event.event_type.clone(),
            status: DeliveryState::PLANNED.as_str().to_owned(),
            next_attempt_at: Some(rfc3339(now)),
            created_at: rfc3339(now),
            attempts: Vec::new(),
        })
        .collect();
    tx.commit().await?;
    state.webhooks().wake();
    Ok(planned)
}
