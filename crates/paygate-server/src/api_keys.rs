//! The key lifecycle API (`keys:manage`, API secret required).

use axum::extract::State;
use axum::response::Response;
use ipnet::IpNet;
use paygate_proto::types::{ApiKeyInfo, CreateApiKey, IssuedApiKey};
use paygate_proto::{FieldError, Scope};
use sqlx::AnyConnection;

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::idempotency::{self, IdempotentJson};
use crate::keys::{parse_ip_net, prepare_key, KeySpec};
use crate::outbox;
use crate::store::{insert_key, key_by_id_in, KeyRecord};

const MAX_ALLOWED_IPS: usize = 100;

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 200, description = "The new key and secret, shown this once", body = IssuedApiKey),
        (status = 400, body = paygate_proto::Problem),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    IdempotentJson { body, key }: IdempotentJson<CreateApiKey>,
) -> ApiResult<Response> {
    caller.require(Scope::KeysManage)?;
    caller.require_secret()?;
    let spec = key_spec(body)?;
    let now = state.now();
    let prepared = prepare_key(state.master_key(), &caller.merchant_id, caller.env, &spec, now)?;
    let (merchant, env, actor) = (caller.merchant_id.clone(), caller.env, caller.key_prefix.clone());
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move {
            insert_key(&mut *conn, &prepared.record).await?;
            let record = key_by_id_in(&mut *conn, &prepared.issued.id)
                .await?
                .ok_or_else(|| ApiError::internal("issued key vanished"))?;
            let info = key_info(&record);
            outbox::record_event(&mut *conn, &merchant, env, "api_key.created", json!(info), now).await?;
            let entry = AuditEntry::new("api_key.created", Outcome::Success)
                .merchant(&merchant, env)
                .actor(actor)
                .ip(client_ip.0)
                .details(json!({ "key_id": info.id, "prefix": info.prefix, "scopes": info.scopes, "allowed_ips": info.allowed_ips }));
            audit::record(conn, &entry, now).await?;
            Ok(IssuedApiKey {
                info,
                key: prepared.issued.key.expose().to_owned(),
                secret: prepared.issued.secret.expose().to_owned(),
            })
        })
    })
    .await
}

/// Validates a create request into a key spec, naming every bad field.
fn key_spec(body: CreateApiKey) -> ApiResult<KeySpec> {
    let mut errors = Vec::new();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let mut scopes = Vec::new();
    for (i, scope) in body.scopes.unwrap_or_else(|| vec!["*".to_owned()]).iter().enumerate() {
        match Scope::parse(scope) {
            Some(s) if !scopes.contains(&s) => scopes.push(s),
            Some(_) => {}
            None => errors.push(FieldError::new(format!("scopes[{i}]"), "is not a known scope")),
        }
    }
    if scopes.is_empty() && errors.is_empty() {
        errors.push(FieldError::new("scopes", "must name at least one scope"));
    }
    let entries = body.allowed_ips.unwrap_or_default();
    if entries.len() > MAX_ALLOWED_IPS {
        errors.push(FieldError::new(
            "allowed_ips",
            format!("at most {MAX_ALLOWED_IPS} entries"),
        ));
    }
    let mut allowed_ips: Vec<IpNet> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match parse_ip_net(entry.trim()) {
            Some(net) => allowed_ips.push(net.trunc()),
            None => errors.push(FieldError::new(
                format!("allowed_ips[{i}]"),
                "is not an IP address or CIDR",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(KeySpec {
        name,
        scopes,
        allowed_ips,
        expires_at: None,
    })
}

pub fn key_info(record: &KeyRecord) -> ApiKeyInfo {
    ApiKeyInfo {
        id: record.id.clone(),
        object: "api_key".to_owned(),
        name: record.name.clone(),
        env: record.env,
        prefix: record.prefix.clone(),
        scopes: record.scopes.clone(),
        allowed_ips: record.allowed_ips.clone(),
        created_at: rfc3339(record.created_at),
        expires_at: record.expires_at.map(rfc3339),
        last_used_at: record.last_used_at.map(rfc3339),
        last_used_ip: record.last_used_ip.clone(),
    }
}
