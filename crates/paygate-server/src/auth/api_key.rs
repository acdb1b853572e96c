//! API-key authentication (docs/api.md section 4.1): shape and checksum first (no lookup
//! for a malformed key), then the cached lookup by hash, the key's state and
//! the merchant it belongs to.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use paygate_proto::{headers, ApiKey, ErrorCode};

use super::cache::KeyEntry;
use super::Trail;
use crate::app::AppState;
use crate::http::ApiError;

pub(super) async fn verify(
    state: &AppState,
    epoch: i64,
    presented: &HeaderValue,
    headers: &HeaderMap,
    now: i64,
    trail: &mut Trail,
) -> Result<Arc<KeyEntry>, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidApiKey);
    let Some(key) = presented.to_str().ok().and_then(|v| ApiKey::parse(v.trim()).ok()) else {
        trail.reason = Some("malformed key");
        return Err(invalid());
    };
    trail.actor = Some(key.masked());
    let hash = key.lookup_hash();
    let Some(entry) = state.auth().key_by_hash(state, epoch, &hash).await? else {
        trail.reason = Some("unknown key");
        return Err(invalid());
    };
    trail.key = Some(entry.clone());
    if entry.record.revoked_at.is_some() {
        trail.reason = Some("revoked key");
        return Err(invalid());
    }
    if !crate::key_age::works(&entry.record, &state.config().auth, now) {
        trail.reason = Some("expired key");
        return Err(invalid());
    }
    if let Some(claimed) = headers.get(headers::MERCHANT_ID) {
        if claimed.as_bytes() != entry.record.merchant_id.as_str().as_bytes() {
            trail.reason = Some("x-merchant-id does not match the key");
            return Err(invalid());
        }
    }
    Ok(entry)
}
