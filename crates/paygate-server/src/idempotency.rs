//! Idempotency (docs/api.md section 6): a state-changing `POST` with an
//! `Idempotency-Key` runs once. Its record (the response, sealed under the
//! master key because it may hold a secret) commits in the same transaction
//! as its effect; a repeat within the retention gets that response again
//! with `Idempotent-Replayed: true`; the same key with another path or body
//! is `422 idempotency_key_reused`; while the first runs, `409
//! idempotency_in_progress`. Requests refused before they run store nothing.
//! Instances sharing a database share the records: a request that finds,
//! once its own run is rolled back, that another instance ran the key first
//! answers with that run's response, replayed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use paygate_proto::{headers, Environment, ErrorCode, MerchantId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row as _};

use crate::app::AppState;
use crate::auth::Caller;
use crate::crypto::Sealed;
use crate::http::json::{json_body, parse_json};
use crate::http::{ApiError, ApiResult};
use crate::store::{Store, StoreResult};

const MAX_KEY_LEN: usize = 255;
const SEAL_CONTEXT: &str = "idempotency-response";

/// The idempotency side of a request: its key and what it asked for.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    key: String,
    /// SHA-256 over method, path and body: another path or body is a reuse.
    fingerprint: String,
}

/// A JSON body with its optional `Idempotency-Key`.
#[derive(Debug)]
pub struct IdempotentJson<T> {
    pub body: T,
    pub key: Option<IdempotencyKey>,
}

impl<T, S> FromRequest<S> for IdempotentJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let key = parse_key(req.headers().get(headers::IDEMPOTENCY_KEY))?;
        let method = req.method().as_str().to_owned();
        let target = request_target(req.uri());
        let bytes = json_body(req, state).await?;
        let body = parse_json(&bytes)?;
        let key = key.map(|key| IdempotencyKey {
            key,
            fingerprint: fingerprint(&method, &target, &bytes),
        });
        Ok(IdempotentJson { body, key })
    }
}

/// The `Idempotency-Key` of a request that carries no JSON body (cancel,
/// approve, reject): its fingerprint covers method and path.
#[derive(Debug)]
pub struct BodylessKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BodylessKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key = parse_key(parts.headers.get(headers::IDEMPOTENCY_KEY))?;
        Ok(BodylessKey(key.map(|key| IdempotencyKey {
            key,
            fingerprint: fingerprint(parts.method.as_str(), &request_target(&parts.uri), b""),
        })))
    }
}

/// The path a key is bound to (docs/api.md section 6: method, path and body). The query
/// is left out: no state-changing route takes one, and signing clients add a
/// random query parameter to every request (so that two identical requests
/// never share a signature), which must not turn their retries into reuses.
fn request_target(uri: &http::Uri) -> String {
    uri.path().to_owned()
}

fn parse_key(value: Option<&HeaderValue>) -> ApiResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let bytes = value.as_bytes();
    let printable = bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !printable {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn fingerprint(method: &str, target: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(target.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Keys whose first request is running in this process.
#[derive(Debug, Default, Clone)]
pub struct Claims(Arc<Mutex<HashSet<String>>>);

struct Claim {
    claims: Claims,
    name: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.claims.0.lock() {
            set.remove(&self.name);
        }
    }
}

impl Claims {
    fn claim(&self, merchant: &MerchantId, env: Environment, key: &str) -> ApiResult<Claim> {
        let name = format!("{merchant}\n{env}\n{key}");
        let mut set = self
            .0
            .lock()
            .map_err(|_| ApiError::internal("idempotency claims poisoned"))?;
        if !set.insert(name.clone()) {
            return Err(ApiError::new(ErrorCode::IdempotencyInProgress));
        }
        Ok(Claim {
            claims: self.clone(),
            name,
        })
    }
}

/// Runs `work` as a group-committed write, exactly once per idempotency key:
/// replays a stored response, refuses a reuse or a key in flight, and
/// otherwise stores the response in the same transaction as the effect.
/// Only successful responses are stored; a refusal (`insufficient_funds`,
/// `invalid_state`) changes nothing and stores nothing, so a retry runs again.
pub async fn run<T, F>(state: &AppState, caller: &Caller, key: Option<IdempotencyKey>, work: F) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
{
    let Some(key) = key else {
        let value = state.store().write(work).await?;
        return respond(StatusCode::OK, body_of(&value)?, false);
    };
    let _claim = state
        .idempotency_claims()
        .claim(&caller.merchant_id, caller.env, &key.key)?;
    let now = state.now();
    if let Some(stored) = lookup(state.store(), &caller.merchant_id, caller.env, &key.key, now).await? {
        return replay(state, &key, stored);
    }
    let merchant = caller.merchant_id.clone();
    let env = caller.env;
    let retention = i64::try_from(state.config().idempotency.retention_secs).unwrap_or(i64::MAX);
    let app = state.clone();
    let asked = key.clone();
    let written = state
        .store()
        .write(move |conn: &mut AnyConnection| {
            Box::pin(async move {
                let value = work(&mut *conn).await?;
                let body = body_of(&value)?;
                let sealed = app.master_key().seal(&body, SEAL_CONTEXT)?;
                let record = Record {
                    merchant: &merchant,
                    env,
                    key: &key,
                    status: StatusCode::OK,
                    sealed: &sealed,
                    now,
                    expires_at: now.saturating_add(retention),
                };
                if !insert(conn, &record).await? {
                    // Another instance committed this key first: its effect
                    // stands, this one rolls back and replays it (below).
                    return Err(ApiError::new(ErrorCode::IdempotencyInProgress));
                }
                Ok::<_, ApiError>(body)
            })
        })
        .await;
    match written {
        Ok(body) => respond(StatusCode::OK, body, false),
        Err(err) => {
            // Another instance may have run this key meanwhile (its commit is
            // what this one waited for, say, on a balance): its answer is the
            // key's answer, not this run's refusal.
            match lookup(state.store(), &caller.merchant_id, caller.env, &asked.key, now).await? {
                Some(stored) => replay(state, &asked, stored),
                None => Err(err),
            }
        }
    }
}

fn body_of<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(ApiError::internal)
}

fn respond(status: StatusCode, body: Vec<u8>, replayed: bool) -> ApiResult<Response> {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        response
            .headers_mut()
            .insert(headers::IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

struct Stored {
    fingerprint: String,
    status: u16,
    sealed: Sealed,
}

fn replay(state: &AppState, key: &IdempotencyKey, stored: Stored) -> ApiResult<Response> {
    let same = subtle::ConstantTimeEq::ct_eq(stored.fingerprint.as_bytes(), key.fingerprint.as_bytes());
    if !bool::from(same) {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    let body = state.master_key().open(&stored.sealed, SEAL_CONTEXT)?;
    let status = StatusCode::from_u16(stored.status).map_err(ApiError::internal)?;
    respond(status, body.to_vec(), true)
}

async fn lookup(
    store: &Store,
    merchant: &MerchantId,
    env: Environment,
    key: &str,
    now: i64,
) -> StoreResult<Option<Stored>> {
    let row = sqlx::query(
        "SELECT fingerprint, status, body_key_id, body_sealed FROM idempotency_keys \
         WHERE merchant_id = $1 AND env = $2 AND idem_key = $3 AND expires_at > $4",
    )
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(key)
    .bind(now)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status: i64 = row.try_get("status")?;
    Ok(Some(Stored {
        fingerprint: row.try_get("fingerprint")?,
        status: u16::try_from(status).unwrap_or(500),
        sealed: Sealed {
            key_id: row.try_get("body_key_id")?,
            bytes: row.try_get("body_sealed")?,
        },
    }))
}

struct Record<'a> {
    merchant: &'a MerchantId,
    env: Environment,
    key: &'a IdempotencyKey,
    status: StatusCode,
    sealed: &'a Sealed,
    now: i64,
    expires_at: i64,
}

/// Inserts the record, replacing an expired one of the same key. Returns
/// false when a live record holds the key (another instance got there first).
async fn insert(conn: &mut AnyConnection, record: &Record<'_>) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (merchant_id, env, idem_key, fingerprint, status, body_key_id, body_sealed, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (merchant_id, env, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, \
         status = excluded.status, body_key_id = excluded.body_key_id, body_sealed = excluded.body_sealed, \
         created_at = excluded.created_at, expires_at = excluded.expires_at \
         WHERE idempotency_keys.expires_at <= excluded.created_at",
    )
    .bind(record.merchant.as_str())
    .bind(record.env.as_str())
    .bind(&record.key.key)
    .bind(&record.key.fingerprint)
    .bind(i64::from(record.status.as_u16()))
    .bind(&record.sealed.key_id)
    .bind(&record.sealed.bytes)
    .bind(record.now)
    .bind(record.expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes records past their retention; returns how many.
pub async fn purge_expired(store: &Store, now: i64) -> StoreResult<u64> {
    store
        .write(move |conn: &mut AnyConnection| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                    .bind(now)
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
}
