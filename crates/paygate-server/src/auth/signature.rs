//! Request signatures (API.md 4.3): the timestamp window with its
//! milliseconds hint, the HMAC compared in constant time, and the replay
//! guard that accepts each signature once.

use http::request::Parts;
use http::HeaderMap;
use paygate_proto::{headers, signing, ErrorCode};
use secrecy::{ExposeSecret as _, SecretString};

use super::replay::ReplayGuard;
use crate::http::ApiError;

/// Whether the request carries a signature to check.
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers.contains_key(headers::SIGNATURE)
}

/// The request target as sent: path, plus `?` and the query if any.
pub fn request_target(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
}

fn out_of_range(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::TimestampOutOfRange).with_detail(detail)
}

/// Checks the signature of a request whose body is `body`, signed with
/// `secret` (the key's API secret); `key_id` scopes the replay guard.
pub async fn verify(
    parts: &Parts,
    body: &[u8],
    secret: &SecretString,
    key_id: &str,
    tolerance_secs: i64,
    now: i64,
    replay: &dyn ReplayGuard,
) -> Result<(), ApiError> {
    let timestamp = parts
        .headers
        .get(headers::TIMESTAMP)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| out_of_range("A signed request needs `x-timestamp` (Unix seconds)."))?;
    // Digits only: `+1700000000` or ` 1700000000` would parse, but name the
    // same second as a differently spelled, differently signed string.
    let seconds: i64 = Some(timestamp)
        .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| out_of_range("`x-timestamp` must be Unix time in whole seconds (digits only)."))?;
    if now.abs_diff(seconds) > tolerance_secs.unsigned_abs() {
        return Err(if timestamp.len() == 13 {
            out_of_range("`x-timestamp` looks like milliseconds: send Unix time in seconds, not milliseconds.")
        } else {
            out_of_range(&format!(
                "`x-timestamp` must be within {tolerance_secs} seconds of the server's time."
            ))
        });
    }
    let presented = parts
        .headers
        .get(headers::SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let valid = signing::verify_request(
        secret.expose_secret(),
        parts.method.as_str(),
        request_target(parts),
        body,
        timestamp,
        presented,
    );
    if !valid {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    // Remember it until its timestamp leaves the window: after that the
    // timestamp check refuses a replay by itself.
    let id = format!("{key_id}:{presented}");
    let first = replay
        .first_use(&id, seconds + tolerance_secs + 1, now)
        .await
        .map_err(ApiError::internal)?;
    if first {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::SignatureReused))
    }
}
