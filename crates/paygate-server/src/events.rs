//! `GET /v1/events` and `GET /v1/events/{id}`: the merchant's outbox, newest
//! first, each event exactly as webhooks deliver it.

use axum::extract::{Path, State};
use paygate_proto::{ErrorCode, Scope};
use serde_json::Value;
use sqlx::Row as _;

use crate::app::AppState;
use crate::auth::Caller;
use crate::http::list::{ListReply, Page, SortKey};
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::keyset::{self, Listed};
use crate::store::StoreError;

fn event_sort_columns(sort: SortKey) -> Option<&'static str> {
    (sort == SortKey::CreatedAt).then_some("created_at")
}

const LISTING: keyset::Listing = keyset::Listing {
    table: "events",
    columns: "id, payload",
    sort_columns: event_sort_columns,
};

fn payload(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("events.payload".to_owned()))
}

#[utoipa::path(get, path = "/v1/events", operation_id = "listEvents", tag = "events", params(crate::http::list::ListQuery),
    responses((status = 200, description = "A page of events", body = crate::openapi::schemas::EventList)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<Listed<Value>>>> {
    caller.require(Scope::PaymentsRead)?;
    let page = page.supporting(&[SortKey::CreatedAt]);
    let reply = keyset::page_of(state.store(), &LISTING, &caller.merchant_id, caller.env, &page, |row| {
        payload(&row.try_get::<String, _>("payload")?)
    })
    .await?;
    Ok(ApiJson(reply))
}

#[utoipa::path(get, path = "/v1/events/{id}", operation_id = "retrieveEvent", tag = "events",
    responses((status = 200, description = "The event", body = crate::openapi::schemas::Event), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<ApiJson<Value>> {
    caller.require(Scope::PaymentsRead)?;
    let row = sqlx::query("SELECT payload FROM events WHERE id = $1 AND merchant_id = $2 AND env = $3")
        .bind(&id)
        .bind(caller.merchant_id.as_str())
        .bind(caller.env.as_str())
        .fetch_optional(state.store().pool())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let text: String = row.try_get("payload")?;
    Ok(ApiJson(payload(&text)?))
}
