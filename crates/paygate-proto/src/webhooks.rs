//! Webhooks as code (docs/api.md section 10): the secret format, both signature
//! schemes (Standard Webhooks `webhook-signature` and the plain
//! `X-Webhook-Signature: sha256=<hex>`), verification for receivers, and the
//! shapes of the endpoint and delivery objects.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Header names of a delivery.
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
pub const HEADER_PLAIN_SIGNATURE: &str = "x-webhook-signature";

/// Every event type the API emits; endpoints subscribe to these or `*`.
pub const EVENT_TYPES: &[&str] = &[
    "payment.created",
    "payment.processing",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "withdrawal.created",
    "withdrawal.approved",
    "withdrawal.rejected",
    "withdrawal.paid",
    "withdrawal.failed",
    "wallet.deposit",
    "wallet.deposit_reversed",
    "api_key.created",
    "api_key.rolled",
    "api_key.revoked",
    "security.alert",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    #[error("a webhook secret is `whsec_` followed by base64")]
    Malformed,
}

/// A webhook secret (`whsec_` + base64 of 32 random bytes). Its `Debug`
/// prints `[redacted]` and its memory is wiped on drop.
#[derive(Clone)]
pub struct WebhookSecret {
    text: Zeroizing<String>,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// A fresh secret from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        let text = Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes.as_ref())));
        Self {
            text,
            key: Zeroizing::new(bytes.to_vec()),
        }
    }

    /// Parses `whsec_<base64>`; the HMAC key of the Standard Webhooks scheme
    /// is the decoded part.
    pub fn parse(text: &str) -> Result<Self, WebhookSecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(WebhookSecretError::Malformed)?;
        let key = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| WebhookSecretError::Malformed)?);
        if key.is_empty() {
            return Err(WebhookSecretError::Malformed);
        }
        Ok(Self {
            text: Zeroizing::new(text.to_owned()),
            key,
        })
    }

    /// The whole secret string, as shown once to the merchant.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `whsec_****abcd`: safe to show again.
    pub fn masked(&self) -> String {
        mask(self.hint())
    }

    /// The last four characters, kept in clear to build the mask.
    pub fn hint(&self) -> &str {
        let text: &str = &self.text;
        let start = text.len().saturating_sub(4).max(SECRET_PREFIX.len());
        text.get(start..).unwrap_or_default()
    }
}

/// The masked form of a secret from its last four characters.
pub fn mask(hint: &str) -> String {
    format!("{SECRET_PREFIX}****{hint}")
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; the fallback is never reached.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac())
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> HmacSha256 {
    panic!("HMAC-SHA256 accepts keys of every length")
}

/// One Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key,
/// `id.timestamp.body`)), keyed with the decoded secret.
pub fn standard_signature(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(&secret.key);
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The plain scheme: `sha256=` + hex(HMAC-SHA256(whole secret string, body)).
pub fn plain_signature(secret: &WebhookSecret, body: &[u8]) -> String {
    let mut mac = mac(secret.expose().as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The signature headers of one attempt, signed with every active secret
/// (newest first), space-separated as Standard Webhooks specifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub webhook_id: String,
    pub webhook_timestamp: String,
    pub webhook_signature: String,
    pub x_webhook_signature: String,
}

pub fn sign_delivery(secrets: &[&WebhookSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
    let join = |sign: &dyn Fn(&WebhookSecret) -> String| secrets.iter().map(|s| sign(s)).collect::<Vec<_>>().join(" ");
    SignedHeaders {
        webhook_id: msg_id.to_owned(),
        webhook_timestamp: timestamp.to_string(),
        webhook_signature: join(&|s| standard_signature(s, msg_id, timestamp, body)),
        x_webhook_signature: join(&|s| plain_signature(s, body)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the webhook timestamp is missing, malformed or outside the tolerance")]
    Timestamp,
    #[error("no signature matches")]
    Signature,
}

/// Checks a received delivery as a receiver would: the timestamp within
/// `tolerance_secs` of `now`, and any `v1` signature in the header matching
/// (compared in constant time).
pub fn verify_delivery(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::Timestamp)?;
    if now.abs_diff(ts) > tolerance_secs.unsigned_abs() {
        return Err(VerifyError::Timestamp);
    }
    let expected = standard_signature(secret, msg_id, ts, body);
    let matched = signature_header
        .split(' ')
        .filter(|candidate| candidate.starts_with("v1,"))
        .fold(false, |found, candidate| {
            found | bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
        });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Signature)
    }
}

/// Checks the plain scheme: any `sha256=<hex>` in `X-Webhook-Signature`
/// (space-separated during a rotation) matching HMAC-SHA256 of the body keyed
/// with the whole secret string, compared in constant time. The plain scheme
/// signs no timestamp, so it cannot refuse a replayed delivery by itself.
pub fn verify_plain(secret: &WebhookSecret, signature_header: &str, body: &[u8]) -> Result<(), VerifyError> {
    let expected = plain_signature(secret, body);
    let matched = signature_header
        .split(' ')
        .filter(|candidate| candidate.starts_with("sha256="))
        .fold(false, |found, candidate| {
            found | bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
        });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Signature)
    }
}

/// An event, as webhooks deliver it, the realtime socket pushes it and
/// `GET /v1/events` lists it: `data.object` is the object the event reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: String,
    pub env: crate::credentials::Environment,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventData {
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// `POST /v1/webhook-endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    pub url: String,
    /// Event types, or `["*"]` for all of them.
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A webhook endpoint. `secret` is the whole secret only in the answers to
/// create and rotate; everywhere else it is masked (`whsec_****abcd`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub object: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why a disabled endpoint was disabled (`gone`: it answered 410).
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// Until when the previous secret still signs beside the current one.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("status", &self.status)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// `POST /v1/events/{id}/redeliver`: to one endpoint, or (without a body)
/// to every enabled endpoint subscribed to the event's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// One try at delivering an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first try.
    pub attempt: u32,
    pub attempted_at: String,
    /// The receiver's HTTP status, when it answered.
    pub response_status: Option<u16>,
    pub duration_ms: u64,
    /// The first 1 KiB of the receiver's answer (lossy UTF-8).
    pub response_body: String,
    /// Why no HTTP answer counted (`timeout`, `url_not_allowed`, `connect`, ...).
    pub error: Option<String>,
}

/// The delivery of one event to one endpoint, with each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub object: String,
    pub endpoint: String,
    pub event: String,
    pub event_type: String,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub attempts: Vec<DeliveryAttempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Vector {
        secret: String,
        msg_id: String,
        timestamp: i64,
        payload: String,
        signature: String,
    }

    #[derive(Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
        must_fail: Vec<Vector>,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../tests/vectors/standard-webhooks.json")).unwrap()
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let secret = WebhookSecret::generate();
        for timestamp in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let checked = verify_delivery(&secret, "msg_1", &timestamp, "v1,AAAA", b"{}", 1_700_000_000, 300);
            assert_eq!(checked, Err(VerifyError::Timestamp), "{timestamp}");
        }
    }

    #[test]
    fn standard_webhooks_vectors_sign_and_verify() {
        let all = vectors();
        for v in &all.vectors {
            let secret = WebhookSecret::parse(&v.secret).unwrap();
            assert_eq!(
                standard_signature(&secret, &v.msg_id, v.timestamp, v.payload.as_bytes()),
                v.signature
            );
            let header = format!("v1,bm90IHRoaXMgb25l {}", v.signature);
            assert!(verify_delivery(
                &secret,
                &v.msg_id,
                &v.timestamp.to_string(),
                &header,
                v.payload.as_bytes(),
                v.timestamp + 10,
                300
            )
            .is_ok());
            assert_eq!(
                verify_delivery(
                    &secret,
                    &v.msg_id,
                    &v.timestamp.to_string(),
                    &v.signature,
                    v.payload.as_bytes(),
                    v.timestamp + 301,
                    300
                ),
                Err(VerifyError::Timestamp)
            );
        }
        for v in &all.must_fail {
            let secret = WebhookSecret::parse(&v.secret).unwrap();
            assert_eq!(
                verify_delivery(
                    &secret,
                    &v.msg_id,
                    &v.timestamp.to_string(),
                    &v.signature,
                    v.payload.as_bytes(),
                    v.timestamp,
                    300
                ),
                Err(VerifyError::Signature)
            );
        }
    }

    #[test]
    fn plain_signature_is_hmac_of_the_body_keyed_with_the_secret_string() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut expected = mac(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        expected.update(b"{\"a\":1}");
        assert_eq!(
            plain_signature(&secret, b"{\"a\":1}"),
            format!("sha256={}", hex::encode(expected.finalize().into_bytes()))
        );
    }

    #[test]
    fn secrets_have_the_contract_shape_and_never_print() {
        let secret = WebhookSecret::generate();
        let text = secret.expose().to_owned();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), 32);
        assert_eq!(secret.masked(), format!("whsec_****{}", &text[text.len() - 4..]));
        assert!(!format!("{secret:?}").contains(&text[6..]));
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(WebhookSecret::parse("sec_abc").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
    }

    #[test]
    fn every_active_secret_signs_a_delivery() {
        let new = WebhookSecret::generate();
        let old = WebhookSecret::generate();
        let headers = sign_delivery(&[&new, &old], "evt_1", 1_700_000_000, b"{}");
        let sigs: Vec<&str> = headers.webhook_signature.split(' ').collect();
        assert_eq!(sigs.len(), 2);
        for secret in [&new, &old] {
            assert!(verify_delivery(
                secret,
                "evt_1",
                "1700000000",
                &headers.webhook_signature,
                b"{}",
                1_700_000_000,
                300
            )
            .is_ok());
        }
        assert_eq!(
            headers.x_webhook_signature.split(' ').next().unwrap(),
            plain_signature(&new, b"{}")
        );
        let stranger = WebhookSecret::generate();
        assert!(verify_delivery(
            &stranger,
            "evt_1",
            "1700000000",
            &headers.webhook_signature,
            b"{}",
            1_700_000_000,
            300
        )
        .is_err());
    }

    #[test]
    fn the_plain_scheme_verifies_any_active_secret_and_nothing_else() {
        let new = WebhookSecret::generate();
        let old = WebhookSecret::generate();
        let headers = sign_delivery(&[&new, &old], "evt_1", 1_700_000_000, b"{}");
        assert!(verify_plain(&old, &headers.x_webhook_signature, b"{}").is_ok());
        assert!(verify_plain(&new, &headers.x_webhook_signature, b"{}").is_ok());
        assert_eq!(
            verify_plain(&new, &headers.x_webhook_signature, b"{ }"),
            Err(VerifyError::Signature)
        );
        assert!(verify_plain(&WebhookSecret::generate(), &headers.x_webhook_signature, b"{}").is_err());
    }
}
