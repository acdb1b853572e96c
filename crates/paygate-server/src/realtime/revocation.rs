//! Which events end the sockets opened with one API key, and when: the
//! key's revocation (by the API, the dashboard, the CLI or a leak report)
//! ends them at once; a roll ends them when the old key stops working. The
//! events come through the same outbox every instance tails, so a socket
//! held by any instance closes.

use std::time::{Duration, Instant};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A key whose sockets must close: at once (`at` is `None`), or at `at`
/// (Unix seconds, server time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEnd {
    pub key_id: String,
    pub at: Option<i64>,
}

/// The key an event ends, if it is `api_key.revoked` or `api_key.rolled`.
pub fn key_end(payload: &str) -> Option<KeyEnd> {
    let value = serde_json::from_str::<Value>(payload).ok()?;
    let object = &value["data"]["object"];
    match value["type"].as_str()? {
        "api_key.revoked" => Some(KeyEnd {
            key_id: object["id"].as_str()?.to_owned(),
            at: None,
        }),
        "api_key.rolled" => {
            let old = &object["old"];
            let at = old["expires_at"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .map(OffsetDateTime::unix_timestamp);
            Some(KeyEnd {
                key_id: old["id"].as_str()?.to_owned(),
                // A rolled key always has an expiry; unreadable means now.
                at: Some(at.unwrap_or(i64::MIN)),
            })
        }
        _ => None,
    }
}

/// When, on this process's monotonic clock, a socket whose key stops
/// working at `at` (server time, read as `now`) must close.
pub fn deadline(at: i64, now: i64) -> Instant {
    let left = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
    Instant::now() + Duration::from_secs(left)
}

/// Waits until `deadline`, or forever when there is none.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_end_at_once_and_rolls_at_the_old_keys_expiry() {
        let revoked = r#"{"type":"api_key.revoked","data":{"object":{"id":"key_a"}}}"#;
        assert_eq!(
            key_end(revoked),
            Some(KeyEnd {
                key_id: "key_a".into(),
                at: None
            })
        );
        let rolled = r#"{"type":"api_key.rolled","data":{"object":{"old":{"id":"key_b","expires_at":"2027-01-14T08:00:00Z"},"new":{"id":"key_c"}}}}"#;
        assert_eq!(
            key_end(rolled),
            Some(KeyEnd {
                key_id: "key_b".into(),
                at: Some(1_799_913_600)
            })
        );
        assert_eq!(
            key_end(r#"{"type":"payment.succeeded","data":{"object":{"id":"pay_1"}}}"#),
            None
        );
        assert!(deadline(10, 20) <= Instant::now());
    }
}
