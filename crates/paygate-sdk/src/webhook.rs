//! Verifying webhook deliveries, as a receiver does.
//!
//! Both of Paygate's schemes are checked: the Standard Webhooks headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`), preferred
//! because the timestamp they sign bounds replays, and the plain
//! `X-Webhook-Signature: sha256=<hex>` when only that one is present. Several
//! secrets may be configured at once, so a receiver keeps accepting while an
//! endpoint's secret is rotated.
//!
//! ```
//! use paygate_sdk::webhook::WebhookVerifier;
//! # let secret = paygate_sdk::proto::webhooks::WebhookSecret::generate();
//! # let body = br#"{"id":"evt_1","type":"payment.succeeded","created_at":"2026-01-01T00:00:00Z","env":"test","data":{"object":{}}}"#;
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
//! # let signed = paygate_sdk::proto::webhooks::sign_delivery(&[&secret], "evt_1", now, body);
//! # let mut headers = http::HeaderMap::new();
//! # headers.insert("webhook-id", signed.webhook_id.parse().unwrap());
//! # headers.insert("webhook-timestamp", signed.webhook_timestamp.parse().unwrap());
//! # headers.insert("webhook-signature", signed.webhook_signature.parse().unwrap());
//! let verifier = WebhookVerifier::new([secret.expose()])?;
//! let event = verifier.verify(&headers, body)?;
//! assert_eq!(event.event_type, "payment.succeeded");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use paygate_proto::webhooks::{
    verify_delivery, verify_plain, Event, VerifyError, WebhookSecret, HEADER_ID, HEADER_PLAIN_SIGNATURE,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

/// Why a delivery was not accepted. Answer it with a 4xx and do not act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook signature header")]
    MissingSignature,
    #[error("the webhook timestamp is missing, malformed or outside the tolerance")]
    Timestamp,
    #[error("no signature matches a configured secret")]
    Signature,
    #[error("the signed body is not a Paygate event")]
    Payload,
    #[error("a configured secret is not a webhook secret (whsec_...)")]
    BadSecret,
}

/// Verifies deliveries against one or more endpoint secrets.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl WebhookVerifier {
    /// The default timestamp tolerance, as Standard Webhooks recommends.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

    /// A verifier accepting a delivery signed by any of `secrets`.
    pub fn new<I, S>(secrets: I) -> Result<Self, WebhookError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets = secrets
            .into_iter()
            .map(|s| WebhookSecret::parse(s.as_ref()).map_err(|_| WebhookError::BadSecret))
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() {
            return Err(WebhookError::BadSecret);
        }
        Ok(WebhookVerifier {
            secrets,
            tolerance: Self::DEFAULT_TOLERANCE,
        })
    }

    /// How far `webhook-timestamp` may be from now (default 5 minutes).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Checks a delivery now and decodes its event.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Event, WebhookError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        self.verify_at(headers, body, now)
    }

    /// [`verify`](Self::verify) as if the time were `now` (Unix seconds).
    pub fn verify_at(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Event, WebhookError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let event_id = if let Some(signature) = header(HEADER_SIGNATURE) {
            let msg_id = header(HEADER_ID).ok_or(WebhookError::MissingSignature)?;
            let timestamp = header(HEADER_TIMESTAMP).ok_or(WebhookError::Timestamp)?;
            let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
            self.any_secret(|secret| verify_delivery(secret, msg_id, timestamp, signature, body, now, tolerance))?;
            Some(msg_id)
        } else if let Some(signature) = header(HEADER_PLAIN_SIGNATURE) {
            self.any_secret(|secret| verify_plain(secret, signature, body))?;
            None
        } else {
            return Err(WebhookError::MissingSignature);
        };
        let event: Event = serde_json::from_slice(body).map_err(|_| WebhookError::Payload)?;
        // The signed id and the event's own must agree (receivers dedupe on it).
        if event_id.is_some_and(|id| id != event.id) {
            return Err(WebhookError::Payload);
        }
        Ok(event)
    }

    fn any_secret(&self, check: impl Fn(&WebhookSecret) -> Result<(), VerifyError>) -> Result<(), WebhookError> {
        let mut error = WebhookError::Signature;
        for secret in &self.secrets {
            match check(secret) {
                Ok(()) => return Ok(()),
                Err(VerifyError::Timestamp) => error = WebhookError::Timestamp,
                Err(VerifyError::Signature) => {}
            }
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paygate_proto::webhooks::sign_delivery;

    const BODY: &[u8] =
        br#"{"id":"evt_1","type":"payment.succeeded","created_at":"2026-01-01T00:00:00Z","env":"test","data":{"object":{}}}"#;
    const NOW: i64 = 1_800_000_000;

    fn headers(secrets: &[&WebhookSecret], id: &str, at: i64, standard: bool) -> HeaderMap {
        let signed = sign_delivery(secrets, id, at, BODY);
        let mut headers = HeaderMap::new();
        if standard {
            headers.insert(HEADER_ID, signed.webhook_id.parse().unwrap());
            headers.insert(HEADER_TIMESTAMP, signed.webhook_timestamp.parse().unwrap());
            headers.insert(HEADER_SIGNATURE, signed.webhook_signature.parse().unwrap());
        } else {
            headers.insert(HEADER_PLAIN_SIGNATURE, signed.x_webhook_signature.parse().unwrap());
        }
        headers
    }

    #[test]
    fn both_schemes_verify_with_any_of_several_secrets() {
        let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let verifier = WebhookVerifier::new([old.expose(), new.expose()]).unwrap();
        for standard in [true, false] {
            for signer in [&old, &new] {
                let event = verifier
                    .verify_at(&headers(&[signer], "evt_1", NOW, standard), BODY, NOW)
                    .unwrap();
                assert_eq!(
                    (event.id.as_str(), event.event_type.as_str()),
                    ("evt_1", "payment.succeeded")
                );
            }
        }
        let stranger = WebhookSecret::generate();
        for standard in [true, false] {
            assert_eq!(
                verifier.verify_at(&headers(&[&stranger], "evt_1", NOW, standard), BODY, NOW),
                Err(WebhookError::Signature)
            );
        }
    }

    #[test]
    fn stale_tampered_or_mislabelled_deliveries_are_refused() {
        let secret = WebhookSecret::generate();
        let verifier = WebhookVerifier::new([secret.expose()])
            .unwrap()
            .tolerance(Duration::from_secs(60));
        let signed = headers(&[&secret], "evt_1", NOW - 61, true);
        assert_eq!(verifier.verify_at(&signed, BODY, NOW), Err(WebhookError::Timestamp));
        assert!(verifier.verify_at(&signed, BODY, NOW - 30).is_ok());
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert!(verifier
            .verify_at(&headers(&[&secret], "evt_1", NOW, true), &tampered, NOW)
            .is_err());
        // Signed for another id than the body's.
        assert_eq!(
            verifier.verify_at(&headers(&[&secret], "evt_2", NOW, true), BODY, NOW),
            Err(WebhookError::Payload)
        );
        assert_eq!(
            verifier.verify_at(&HeaderMap::new(), BODY, NOW),
            Err(WebhookError::MissingSignature)
        );
        assert!(WebhookVerifier::new(["sk_test_nope"]).is_err());
        assert!(WebhookVerifier::new(Vec::<String>::new()).is_err());
    }
}
