//! The webhook API (`webhooks:manage`): endpoints (create with the secret
//! shown once, list, get masked, delete, rotate). An endpoint's delivery
//! log and redelivery are in [`super::deliveries`].

use axum::extract::{Path, State};
use paygate_proto::webhooks::{mask, CreateWebhookEndpoint, WebhookEndpoint, WebhookSecret, EVENT_TYPES};
use paygate_proto::{Environment, ErrorCode, FieldError, MerchantId, Scope};
use serde::Serialize;
use serde_json::json;

use super::db::{self, EndpointRecord};
use super::egress::{self, Policy};
use super::secret_context;
use crate::api_keys::Actor;
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Page, SortKey, SortValue};
use crate::http::{ApiError, ApiJson, ApiResult, ClientIp};
use crate::ids;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_GRACE_SECS: i64 = 86_400;
const MAX_DESCRIPTION: usize = 500;

/// A listed item with the key its cursor is made from.
#[derive(Serialize)]
pub struct Listed<T> {
    #[serde(flatten)]
    pub item: T,
    #[serde(skip)]
    key: (i64, String),
}

pub(super) fn listed<T>(item: T, created_at: i64, id: &str) -> Listed<T> {
    Listed {
        item,
        key: (created_at, id.to_owned()),
    }
}

pub(super) fn reply<T: Serialize>(page: &Page, rows: Vec<Listed<T>>) -> ListReply<Listed<T>> {
    page.reply(rows, |row| (SortValue::Int(row.key.0), row.key.1.clone()))
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound)
}

fn to_wire(record: &EndpointRecord, secret: Option<&WebhookSecret>, now: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: record.id.clone(),
        object: "webhook_endpoint".to_owned(),
        url: record.url.clone(),
        events: record.events.clone(),
        description: record.description.clone(),
        status: record.status.clone(),
        disabled_reason: record.disabled_reason.clone(),
        secret: secret.map_or_else(|| mask(&record.secret_hint), |s| s.expose().to_owned()),
        previous_secret_expires_at: record.previous_expires_at.filter(|until| *until > now).map(rfc3339),
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
    }
}

/// Validates the event list: known types or `*`, at least one, no repeats.
fn event_list(events: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if events.is_empty() {
        errors.push(FieldError::new("events", "must name at least one event type, or \"*\""));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if event != "*" && !EVENT_TYPES.contains(&event.as_str()) {
            errors.push(FieldError::new(format!("events[{i}]"), "is not a known event type"));
        } else if !out.contains(event) {
            out.push(event.clone());
        }
    }
    if out.iter().any(|e| e == "*") {
        out = vec!["*".to_owned()];
    }
    out
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    operation_id = "createWebhookEndpoint",
    tag = "webhooks",
    request_body = CreateWebhookEndpoint,
    responses(
        (status = 200, description = "The endpoint, with its signing secret shown this once", body = WebhookEndpoint),
        (status = 400, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
        (status = 422, description = "url_not_allowed", body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    ApiJson(body): ApiJson<CreateWebhookEndpoint>,
) -> ApiResult<ApiJson<WebhookEndpoint>> {
    caller.require(Scope::WebhooksManage)?;
    let actor = Actor::api(&caller, client_ip);
    Ok(ApiJson(
        create_endpoint(&state, &caller.merchant_id, caller.env, body, &actor).await?,
    ))
}

/// Creates an endpoint (events checked, URL vetted by the egress policy)
/// with its audit row; the signing secret is in the answer this once.
pub async fn create_endpoint(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    body: CreateWebhookEndpoint,
    actor: &Actor,
) -> ApiResult<WebhookEndpoint> {
    let mut errors = Vec::new();
    let events = event_list(&body.events, &mut errors);
    let description = body.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        errors.push(FieldError::new("description", "must be at most 500 characters"));
    } else if description.as_deref().is_some_and(crate::http::json_text::has_control) {
        errors.push(FieldError::new("description", "must not contain control characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let policy = Policy::for_env(env, state.config().webhooks.allow_private_targets);
    let (url, _) = egress::vet_url(&body.url, policy)
        .map_err(|refusal| ApiError::new(ErrorCode::UrlNotAllowed).with_detail(refusal.to_string()))?;
    let now = state.now();
    let id = ids::new_id("we");
    let secret = WebhookSecret::generate();
    let record = EndpointRecord {
        id: id.clone(),
        merchant_id: merchant.clone(),
        env,
        url: url.to_string(),
        description,
        events,
        status: "enabled".to_owned(),
        disabled_reason: None,
        secret: state
            .master_key()
            .seal(secret.expose().as_bytes(), &secret_context(&id))?,
        secret_hint: secret.hint().to_owned(),
        previous: None,
        previous_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store().begin_write().await?;
    db::insert_endpoint(tx.conn(), &record).await?;
    let entry = actor.stamp(
        AuditEntry::new("webhook_endpoint.created", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({ "endpoint_id": id, "url": record.url, "events": record.events })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(to_wire(&record, Some(&secret), now))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    operation_id = "listWebhookEndpoints",
    tag = "webhooks",
    params(crate::http::list::ListQuery),
    responses((status = 200, description = "A page of endpoints, secrets masked", body = crate::openapi::schemas::WebhookEndpointList)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<Listed<WebhookEndpoint>>>> {
    caller.require(Scope::WebhooksManage)?;
    Ok(ApiJson(
        endpoints_page(&state, &caller.merchant_id, caller.env, page).await?,
    ))
}

/// A page of the tenant's endpoints, secrets masked.
pub async fn endpoints_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: Page,
) -> ApiResult<ListReply<Listed<WebhookEndpoint>>> {
    let page = page.supporting(&[SortKey::CreatedAt]);
    let mut conn = state.store().pool().acquire().await.map_err(ApiError::internal)?;
    let now = state.now();
    let rows = db::list_endpoints(&mut conn, merchant, env, &page)
        .await?
        .iter()
        .map(|r| listed(to_wire(r, None, now), r.created_at, &r.id))
        .collect();
    Ok(reply(&page, rows))
}

pub(super) async fn find(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<EndpointRecord> {
    let mut conn = state.store().pool().acquire().await.map_err(ApiError::internal)?;
    db::endpoint(&mut conn, merchant, env, id).await?.ok_or_else(not_found)
}

/// One of the tenant's endpoints, secret masked, or `404`.
pub async fn masked_endpoint(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<WebhookEndpoint> {
    let record = find(state, merchant, env, id).await?;
    Ok(to_wire(&record, None, state.now()))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "retrieveWebhookEndpoint",
    tag = "webhooks",
    responses((status = 200, description = "The endpoint, secret masked", body = WebhookEndpoint), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<WebhookEndpoint>> {
    caller.require(Scope::WebhooksManage)?;
    Ok(ApiJson(
        masked_endpoint(&state, &caller.merchant_id, caller.env, &id).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "deleteWebhookEndpoint",
    tag = "webhooks",
    responses((status = 200, description = "Deleted, with its deliveries", body = crate::openapi::schemas::DeletedWebhookEndpoint), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    caller.require(Scope::WebhooksManage)?;
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let record = db::endpoint(tx.conn(), &caller.merchant_id, caller.env, &id)
        .await?
        .ok_or_else(not_found)?;
    db::delete_endpoint(tx.conn(), &record.id).await?;
    let entry = AuditEntry::new("webhook_endpoint.deleted", Outcome::Success)
        .merchant(&caller.merchant_id, caller.env)
        .actor(&caller.key_prefix)
        .ip(client_ip.0)
        .details(json!({ "endpoint_id": record.id, "url": record.url }));
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(ApiJson(
        json!({ "id": record.id, "object": "webhook_endpoint", "deleted": true }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/secret/rotate",
    operation_id = "rotateWebhookEndpointSecret",
    tag = "webhooks",
    responses(
        (status = 200, description = "The endpoint with its new secret, shown this once; the previous one signs beside it for 24 h", body = WebhookEndpoint),
        (status = 401, description = "api_secret_required", body = paygate_proto::Problem),
        (status = 404, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<WebhookEndpoint>> {
    caller.require(Scope::WebhooksManage)?;
    caller.require_secret()?;
    let actor = Actor::api(&caller, client_ip);
    Ok(ApiJson(
        rotate_secret(&state, &caller.merchant_id, caller.env, &id, &actor).await?,
    ))
}

/// Gives an endpoint a new signing secret (shown this once); the previous
/// one signs beside it for 24 hours. Audited.
pub async fn rotate_secret(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    actor: &Actor,
) -> ApiResult<WebhookEndpoint> {
    let now = state.now();
    let secret = WebhookSecret::generate();
    let mut tx = state.store().begin_write().await?;
    let mut record = db::endpoint(tx.conn(), merchant, env, id)
        .await?
        .ok_or_else(not_found)?;
    let sealed = state
        .master_key()
        .seal(secret.expose().as_bytes(), &secret_context(&record.id))?;
    let until = now + ROTATION_GRACE_SECS;
    db::rotate_secret(
        tx.conn(),
        &record.id,
        &sealed,
        secret.hint(),
        &record.secret,
        until,
        now,
    )
    .await?;
    let entry = actor.stamp(
        AuditEntry::new("webhook_endpoint.secret_rotated", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({ "endpoint_id": record.id, "previous_secret_expires_at": rfc3339(until) })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    record.previous = Some(std::mem::replace(&mut record.secret, sealed));
    record.secret_hint = secret.hint().to_owned();
    record.previous_expires_at = Some(until);
    record.updated_at = now;
    Ok(to_wire(&record, Some(&secret), now))
}
