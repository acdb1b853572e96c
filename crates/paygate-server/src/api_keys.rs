//! The key lifecycle API (API.md section 3, `keys:manage`): create, list
//! (masked), roll with an overlap, revoke with every session. Changes need
//! the API secret (`x-api-secret` or a signature).

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use ipnet::IpNet;
use paygate_proto::auth::RollApiKey;
use paygate_proto::types::{ApiKeyInfo, CreateApiKey, IssuedApiKey};
use paygate_proto::{Environment, ErrorCode, FieldError, MerchantId, Scope};
use sqlx::AnyConnection;

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::json::parse_json;
use crate::http::list::{ListReply, Page, SortKey, SortValue};
use crate::http::{ApiError, ApiJson, ApiResult, ClientIp};
use crate::idempotency::{self, IdempotentJson};
use crate::keys::{parse_ip_net, prepare_key, KeySpec, PreparedKey};
use crate::outbox;
use crate::store::auth::{expire_key_at, revoke_key_in, revoke_sessions_of_key};
use crate::store::{insert_key, key_by_id_in, set_allowed_ips_in, KeyRecord, WriteTx};

const MAX_ALLOWED_IPS: usize = 100;
const MAX_ROLL_GRACE_SECS: u64 = 604_800;

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
    caller.require_within(&spec.scopes)?;
    let now = state.now();
    let prepared = prepare_key(state.master_key(), &caller.merchant_id, caller.env, &spec, now)?;
    let (merchant, env) = (caller.merchant_id.clone(), caller.env);
    let actor = Actor::api(&caller, client_ip);
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { insert_issued(conn, &prepared, &merchant, env, &actor, now).await })
    })
    .await
}

/// Stores a prepared key with its `api_key.created` event and audit row, in
/// the caller's transaction; the key and secret are returned this once.
pub async fn insert_issued(
    conn: &mut AnyConnection,
    prepared: &PreparedKey,
    merchant: &MerchantId,
    env: Environment,
    actor: &Actor,
    now: i64,
) -> ApiResult<IssuedApiKey> {
    insert_key(&mut *conn, &prepared.record).await?;
    let record = key_by_id_in(&mut *conn, &prepared.issued.id)
        .await?
        .ok_or_else(|| ApiError::internal("issued key vanished"))?;
    let info = key_info(&record);
    outbox::record_event(&mut *conn, merchant, env, "api_key.created", json!(info), now).await?;
    let entry = actor.stamp(
        AuditEntry::new("api_key.created", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({ "key_id": info.id, "prefix": info.prefix, "scopes": info.scopes, "allowed_ips": info.allowed_ips })),
    );
    audit::record(conn, &entry, now).await?;
    Ok(IssuedApiKey {
        info,
        key: prepared.issued.key.expose().to_owned(),
        secret: prepared.issued.secret.expose().to_owned(),
    })
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(crate::http::list::ListQuery),
    responses(
        (status = 200, description = "The keys that still work, masked"),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<ApiKeyInfo>>> {
    caller.require(Scope::KeysManage)?;
    Ok(ApiJson(keys_page(&state, &caller.merchant_id, caller.env, page).await?))
}

/// A page of the keys that still work, masked.
pub async fn keys_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: Page,
) -> ApiResult<ListReply<ApiKeyInfo>> {
    let page = page.supporting(&[SortKey::CreatedAt]);
    if page
        .after
        .as_ref()
        .is_some_and(|c| !matches!(c.value, SortValue::Int(_)))
    {
        return Err(ApiError::field("cursor", "is not a cursor from this list"));
    }
    // Flush pending decisions so `last_used_at` is current.
    state.auth().decisions().flush().await;
    let now = state.now();
    let age = crate::key_age::KeyAge::from_config(&state.config().auth);
    let records = state
        .store()
        .keys_page(merchant, env, &page, now, age.oldest_allowed(now))
        .await?;
    let infos: Vec<ApiKeyInfo> = records
        .iter()
        .map(|record| ApiKeyInfo {
            rotation_due: age.rotation_due(record.created_at, now),
            ..key_info(record)
        })
        .collect();
    Ok(page.reply(infos, |info| {
        let created = records.iter().find(|r| r.id == info.id).map_or(0, |r| r.created_at);
        (SortValue::Int(created), info.id.clone())
    }))
}

/// Reads an optional JSON body: none (or empty) gives the default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    parse_json(body)
}

/// The tenant's active key `id`, or `404`.
pub async fn own_active_key(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<KeyRecord> {
    state
        .store()
        .key_by_id(id)
        .await?
        .filter(|k| {
            &k.merchant_id == merchant && k.env == env && crate::key_age::works(k, &state.config().auth, state.now())
        })
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}

#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/roll",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key to replace")),
    request_body = RollApiKey,
    responses(
        (status = 200, description = "The new key and secret, shown this once", body = IssuedApiKey),
        (status = 400, body = paygate_proto::Problem),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
        (status = 404, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn roll(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiJson<IssuedApiKey>> {
    caller.require(Scope::KeysManage)?;
    caller.require_secret()?;
    let body: RollApiKey = optional_body(&headers, &body)?;
    let grace = body.expire_old_in.unwrap_or(state.config().auth.key_roll_grace_secs);
    if grace > MAX_ROLL_GRACE_SECS {
        return Err(ApiError::field("expire_old_in", "must be 0 to 604800 seconds"));
    }
    let old = own_active_key(&state, &caller.merchant_id, caller.env, &id).await?;
    let old_scopes: Vec<Scope> = old.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    caller.require_within(&old_scopes)?;
    let issued = roll_key(&state, &old, grace, &Actor::api(&caller, client_ip)).await?;
    Ok(ApiJson(issued))
}

/// Replaces `old` with a new key of the same name, scopes and allowlist; the
/// old one keeps working for `grace` seconds (with `0`, its sessions end
/// now). Writes `api_key.rolled` and its audit row in one transaction.
pub async fn roll_key(state: &AppState, old: &KeyRecord, grace: u64, actor: &Actor) -> ApiResult<IssuedApiKey> {
    let now = state.now();
    let old_expires_at = now + i64::try_from(grace).unwrap_or(0);
    let spec = KeySpec {
        name: old.name.clone(),
        scopes: old.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        allowed_ips: old.allowed_ips.iter().filter_map(|e| parse_ip_net(e)).collect(),
        expires_at: None,
    };
    let (merchant, env) = (&old.merchant_id, old.env);
    let prepared = prepare_key(state.master_key(), merchant, env, &spec, now)?;
    let mut tx = state.store().begin_write().await?;
    insert_key(tx.conn(), &prepared.record).await?;
    expire_key_at(tx.conn(), &old.id, old_expires_at).await?;
    if grace == 0 {
        revoke_sessions_of_key(tx.conn(), &old.id, now).await?;
    }
    let record = tx_key(&mut tx, &prepared.issued.id).await?;
    let old_after = tx_key(&mut tx, &old.id).await?;
    let info = key_info(&record);
    outbox::record_event(
        tx.conn(),
        merchant,
        env,
        "api_key.rolled",
        json!({ "old": key_info(&old_after), "new": info }),
        now,
    )
    .await?;
    let entry = actor.stamp(
        AuditEntry::new("api_key.rolled", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({
                "old_key_id": old.id, "old_prefix": old.prefix, "old_expires_at": old_expires_at,
                "key_id": info.id, "prefix": info.prefix,
            })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(IssuedApiKey {
        info,
        key: prepared.issued.key.expose().to_owned(),
        secret: prepared.issued.secret.expose().to_owned(),
    })
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key to revoke")),
    responses(
        (status = 200, description = "The key, revoked with every session made from it", body = ApiKeyInfo),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
        (status = 404, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<ApiKeyInfo>> {
    caller.require(Scope::KeysManage)?;
    caller.require_secret()?;
    own_active_key(&state, &caller.merchant_id, caller.env, &id).await?;
    let actor = Actor::api(&caller, client_ip);
    let info = revoke_key(&state, &id, Some((&caller.merchant_id, caller.env)), &actor)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(ApiJson(info))
}

/// Who made a change, for its audit row.
#[derive(Debug, Clone)]
pub struct Actor {
    pub label: String,
    pub ip: Option<String>,
}

impl Actor {
    /// The API key that made the request, from its address.
    pub fn api(caller: &Caller, client_ip: ClientIp) -> Self {
        Actor {
            label: caller.key_prefix.clone(),
            ip: Some(client_ip.0.to_string()),
        }
    }

    /// Adds the actor and, when known, the address to an audit row.
    pub fn stamp(&self, entry: AuditEntry) -> AuditEntry {
        let entry = entry.actor(self.label.clone());
        match &self.ip {
            Some(ip) => entry.ip(ip),
            None => entry,
        }
    }
}

/// Revokes a key with its sessions, writing the `api_key.revoked` event and
/// the audit row in the same transaction. `owner` restricts it to one tenant
/// (`None`: the operator). `None` when there was no active key `id`.
pub async fn revoke_key(
    state: &AppState,
    id: &str,
    owner: Option<(&MerchantId, Environment)>,
    actor: &Actor,
) -> ApiResult<Option<ApiKeyInfo>> {
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    if !revoke_key_in(tx.conn(), id, owner, now).await? {
        return Ok(None);
    }
    let record = tx_key(&mut tx, id).await?;
    let info = key_info(&record);
    outbox::record_event(
        tx.conn(),
        &record.merchant_id,
        record.env,
        "api_key.revoked",
        json!(info),
        now,
    )
    .await?;
    let entry = actor.stamp(
        AuditEntry::new("api_key.revoked", Outcome::Success)
            .merchant(&record.merchant_id, record.env)
            .details(json!({ "key_id": info.id, "prefix": info.prefix })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(Some(info))
}

async fn tx_key(tx: &mut WriteTx, id: &str) -> ApiResult<KeyRecord> {
    key_by_id_in(tx.conn(), id)
        .await?
        .ok_or_else(|| ApiError::internal("issued key vanished"))
}

/// Validates a create request into a key spec, naming every bad field.
pub fn key_spec(body: CreateApiKey) -> ApiResult<KeySpec> {
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
    let allowed_ips = allowlist(&body.allowed_ips.unwrap_or_default(), &mut errors);
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

/// Checks an IP allowlist: at most 100 addresses or CIDRs, each truncated
/// to its network; every bad entry is named.
fn allowlist(entries: &[String], errors: &mut Vec<FieldError>) -> Vec<IpNet> {
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
    allowed_ips
}

/// Replaces the IP allowlist of the tenant's active key `id` (empty: any
/// address), effective at once on every process, with an
/// `api_key.allowlist_updated` audit row holding the lists before and after.
pub async fn set_allowlist(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    entries: &[String],
    actor: &Actor,
) -> ApiResult<ApiKeyInfo> {
    let mut errors = Vec::new();
    let nets = allowlist(entries, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let after: Vec<String> = nets.iter().map(ToString::to_string).collect();
    let before = own_active_key(state, merchant, env, id).await?;
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    if !set_allowed_ips_in(tx.conn(), id, (merchant, env), &after, now).await? {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let record = tx_key(&mut tx, id).await?;
    let entry = actor.stamp(
        AuditEntry::new("api_key.allowlist_updated", Outcome::Success)
            .merchant(merchant, env)
            .details(json!({
                "key_id": record.id, "prefix": record.prefix,
                "before": before.allowed_ips, "after": record.allowed_ips,
            })),
    );
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(key_info(&record))
}

/// A key as the API shows it. `rotation_due` is set by the list, which
/// knows the configured age (see `key_age`).
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
        rotation_due: false,
    }
}
