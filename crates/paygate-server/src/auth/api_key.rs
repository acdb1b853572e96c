//! API-key authentication (API.md 4.1 and 4.4): shape and checksum first,
//! then the lookup by hash, state, merchant, allowlist and secret.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use paygate_proto::{headers, ApiKey, ErrorCode, Scope};

use super::Caller;
use crate::app::AppState;
use crate::http::ApiError;
use crate::store::KeyRecord;

pub async fn verify(
    state: &AppState,
    presented: &HeaderValue,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidApiKey);
    let key = presented
        .to_str()
        .ok()
        .and_then(|v| ApiKey::parse(v.trim()).ok())
        .ok_or_else(invalid)?;
    let record = state
        .store()
        .key_by_hash(&key.lookup_hash())
        .await?
        .ok_or_else(invalid)?;
    if !record.is_active(state.now()) {
        return Err(invalid());
    }
    if let Some(claimed) = headers.get(headers::MERCHANT_ID) {
        if claimed.as_bytes() != record.merchant_id.as_str().as_bytes() {
            return Err(invalid());
        }
    }
    check_allowlist(&record, ip)?;
    if record.merchant_suspended {
        return Err(ApiError::new(ErrorCode::AccountSuspended));
    }
    let secret_verified = match headers.get(headers::API_SECRET) {
        Some(value) => verify_secret(state, &record, value)?,
        None => false,
    };
    Ok(caller_for(&record, secret_verified))
}

fn verify_secret(state: &AppState, record: &KeyRecord, presented: &HeaderValue) -> Result<bool, ApiError> {
    let stored = state
        .master_key()
        .open_string(&record.secret, &crate::keys::secret_context(&record.id))?;
    let presented = presented
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::InvalidApiSecret))?;
    let matches = secrecy::ExposeSecret::expose_secret(&stored).as_bytes();
    if subtle::ConstantTimeEq::ct_eq(matches, presented.trim().as_bytes()).into() {
        Ok(true)
    } else {
        Err(ApiError::new(ErrorCode::InvalidApiSecret))
    }
}

/// `403 ip_not_allowed` when the key has an allowlist without `ip`.
pub fn check_allowlist(record: &KeyRecord, ip: IpAddr) -> Result<(), ApiError> {
    if record.allowed_ips.is_empty() {
        return Ok(());
    }
    let allowed = record
        .allowed_ips
        .iter()
        .filter_map(|entry| crate::keys::parse_ip_net(entry))
        .any(|net| net.contains(&ip));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::IpNotAllowed))
    }
}

fn caller_for(record: &KeyRecord, secret_verified: bool) -> Caller {
    Caller {
        merchant_id: record.merchant_id.clone(),
        env: record.env,
        key_id: record.id.clone(),
        key_prefix: record.prefix.clone(),
        scopes: record.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        secret_verified,
    }
}
