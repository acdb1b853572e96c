//! The one error model of the API: stable codes, their HTTP status, and the
//! RFC 9457 problem body every error response carries.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $variant:ident = ($code:literal, $status:literal, $title:literal, $detail:literal, $cause:literal, $fix:literal); )+) => {
        /// Every error code the API can answer with (docs/api.md section 2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $( $variant, )+ }

        impl ErrorCode {
            /// All codes, in catalog order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            /// The stable machine-readable code, e.g. `invalid_signature`.
            pub const fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )+ }
            }

            /// The HTTP status this code is always sent with.
            pub const fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )+ }
            }

            /// A short human title, the same for every occurrence.
            pub const fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title, )+ }
            }

            /// The generic detail sent when the caller is not told more.
            pub const fn default_detail(self) -> &'static str {
                match self { $( ErrorCode::$variant => $detail, )+ }
            }

            /// What usually causes this error (for the catalog).
            pub const fn cause(self) -> &'static str {
                match self { $( ErrorCode::$variant => $cause, )+ }
            }

            /// What the caller should do about it (for the catalog).
            pub const fn fix(self) -> &'static str {
                match self { $( ErrorCode::$variant => $fix, )+ }
            }

            /// Parses a code as sent on the wire.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )+ _ => None }
            }
        }
    };
}

error_codes! {
    BadRequest = ("bad_request", 400, "Bad request", "The request could not be understood.",
        "The request is malformed in a way no more specific code describes, such as an invalid query string or path parameter.",
        "Check the request against the API reference and send it again.");
    InvalidJson = ("invalid_json", 400, "Invalid JSON", "The request body is not valid JSON.",
        "The body could not be parsed as JSON.",
        "Send a well-formed JSON object with `Content-Type: application/json`.");
    ValidationFailed = ("validation_failed", 400, "Validation failed", "One or more fields are invalid.",
        "A field is missing, has the wrong type, is out of range, or is not a known field. The `errors` array names each field.",
        "Correct each field listed in `errors` and send the request again.");
    HttpsRequired = ("https_required", 400, "HTTPS required", "This server only accepts HTTPS requests.",
        "The request was sent over plain HTTP, or through a proxy that did not report HTTPS.",
        "Use an `https://` URL. Behind a proxy, terminate TLS at a trusted proxy that sets `X-Forwarded-Proto: https`.");
    IdempotencyKeyRequired = ("idempotency_key_required", 400, "Idempotency key required", "This request requires an Idempotency-Key header.",
        "Some writes, such as withdrawal creation, must carry an `Idempotency-Key`.",
        "Generate a unique key (for example a UUID) per logical operation and send it in `Idempotency-Key`.");
    AmbiguousCredentials = ("ambiguous_credentials", 400, "Ambiguous credentials", "Send exactly one credential, and each credential header once.",
        "The request carried both an API key and a bearer token, or a credential header (`x-api-key`/`apikey`, `Authorization`, `x-merchant-id`, `x-api-secret`, `x-session-id`, `x-timestamp`, `x-signature`, `x-session-token`) more than once.",
        "Authenticate with exactly one of an API key or an access token, and send each credential header once.");
    MissingCredentials = ("missing_credentials", 401, "Missing credentials", "No credentials were provided.",
        "The request carried neither an API key nor a bearer token, or the merchant's policy requires a token.",
        "Send `x-api-key`, or exchange it at `POST /v1/auth/token` and send `Authorization: Bearer` with `x-session-id`.");
    InvalidApiKey = ("invalid_api_key", 401, "Invalid API key", "The API key is not valid.",
        "The key is malformed, unknown, revoked or expired, or does not belong to the merchant named in `x-merchant-id`.",
        "Check the key in your dashboard; create or roll a key if it was revoked or expired.");
    InvalidToken = ("invalid_token", 401, "Invalid token", "The access token is not valid.",
        "The bearer token is malformed, not signed by this server, or uses an unexpected algorithm.",
        "Exchange your API key for a fresh token at `POST /v1/auth/token`.");
    TokenExpired = ("token_expired", 401, "Token expired", "The access token has expired.",
        "Access tokens live for 60 seconds by default.",
        "Exchange your API key for a fresh token; SDKs refresh shortly before expiry.");
    SessionIdMissing = ("session_id_missing", 401, "Session ID missing", "The x-session-id header is required with a bearer token.",
        "A bearer token was sent without its session id.",
        "Send the `session_id` returned by the token exchange in `x-session-id`.");
    SessionMismatch = ("session_mismatch", 401, "Session mismatch", "The session does not match the access token.",
        "The `x-session-id` header names a different session than the token.",
        "Send the session id that was returned together with this token.");
    SessionRevoked = ("session_revoked", 401, "Session revoked", "The session has been ended.",
        "The session was ended explicitly, or the key it was made from was revoked.",
        "Exchange a valid API key for a new token and session.");
    InvalidSignature = ("invalid_signature", 401, "Invalid signature", "The request signature does not match.",
        "The `x-signature` header is not the HMAC-SHA256 of METHOD + PATH + BODY + TIMESTAMP under the API secret.",
        "Sign the exact bytes you send, with the path and query as sent, using the full secret string as the key.");
    SignatureRequired = ("signature_required", 401, "Signature required", "This merchant requires signed requests.",
        "The merchant's security policy requires `x-timestamp` and `x-signature` on every request.",
        "Sign every request, or change the policy at `PUT /v1/security/policy`.");
    TimestampOutOfRange = ("timestamp_out_of_range", 401, "Timestamp out of range", "The request timestamp is outside the accepted window.",
        "`x-timestamp` differs from the server's clock by more than the tolerance (300 seconds by default).",
        "Send the current Unix time in seconds and keep your clock synchronised (NTP).");
    SignatureReused = ("signature_reused", 401, "Signature reused", "This signature has already been used.",
        "A request with the same signature was already accepted within the window: a replay.",
        "Sign every request afresh with the current timestamp.");
    InvalidApiSecret = ("invalid_api_secret", 401, "Invalid API secret", "The API secret is not valid.",
        "The `x-api-secret` header does not match the secret of the key in use.",
        "Send the secret that was shown together with the key, or roll the key to get a new pair.");
    ApiSecretRequired = ("api_secret_required", 401, "API secret required", "This operation requires the API secret.",
        "Key management, webhook secret rotation and payout approval need proof of the API secret.",
        "Send `x-api-secret`, or sign the request with `x-timestamp` and `x-signature`.");
    InvalidSessionToken = ("invalid_session_token", 401, "Invalid session token", "The checkout session token is not valid.",
        "The session token is unknown or expired, the signature does not match, or a server credential was sent to a payor route.",
        "Use the `session_token` and `session_secret` of a live checkout session; never send server keys from a browser.");
    InvalidWsToken = ("invalid_ws_token", 401, "Invalid realtime token", "The realtime token is not valid.",
        "The `ws_token` is unknown, expired or already used.",
        "Mint a fresh token at `POST /v1/realtime/tokens` just before connecting.");
    IpNotAllowed = ("ip_not_allowed", 403, "IP not allowed", "Requests from this IP address are not allowed for this key.",
        "The key has an IP allowlist that does not include the caller's address.",
        "Call from an allowlisted address, or add this address to the key's `allowed_ips`.");
    InsufficientScope = ("insufficient_scope", 403, "Insufficient scope", "This key is not allowed to perform this operation.",
        "The key's scopes do not include the one this route needs.",
        "Use a key with the required scope, or create one with it.");
    AccountSuspended = ("account_suspended", 403, "Account suspended", "This account is suspended.",
        "The operator has suspended this merchant account.",
        "Contact the operator of this Paygate installation.");
    LiveModeOnly = ("live_mode_only", 403, "Live mode only", "This operation is only available in live mode.",
        "The route exists only for live keys.",
        "Use a live key (`sk_live_...`).");
    TestModeOnly = ("test_mode_only", 403, "Test mode only", "This operation is only available in test mode.",
        "Test helpers cannot be used with live keys.",
        "Use a test key (`sk_test_...`).");
    OtpRequired = ("otp_required", 403, "One-time code required", "A valid one-time code is required.",
        "Approving payouts and changing the password need a one-time code.",
        "Enter the code sent by email, or a code from your authenticator app.");
    NotFound = ("not_found", 404, "Not found", "The requested resource does not exist.",
        "No such route, or no such object for this merchant and environment (test and live data never mix).",
        "Check the URL and the object id, and that you use a key of the environment the object was made in.");
    MethodNotAllowed = ("method_not_allowed", 405, "Method not allowed", "This method is not allowed on this route.",
        "The route exists but does not accept this HTTP method.",
        "Use one of the methods listed in the `Allow` header.");
    PayloadTooLarge = ("payload_too_large", 413, "Payload too large", "The request body exceeds 1 MiB.",
        "Request bodies are limited to 1 MiB.",
        "Send a smaller body.");
    UnsupportedMediaType = ("unsupported_media_type", 415, "Unsupported media type", "The request body must be JSON.",
        "A body was sent without `Content-Type: application/json`.",
        "Send JSON with `Content-Type: application/json`.");
    IdempotencyInProgress = ("idempotency_in_progress", 409, "Request in progress", "A request with this idempotency key is still being processed.",
        "An earlier request with the same `Idempotency-Key` has not finished yet.",
        "Wait a moment and retry with the same key; you will receive the original response.");
    InvalidState = ("invalid_state", 409, "Invalid state", "The object is not in a state that allows this operation.",
        "The requested transition is not allowed from the object's current status.",
        "Fetch the object and check its `status` before acting on it.");
    IdempotencyKeyReused = ("idempotency_key_reused", 422, "Idempotency key reused", "This idempotency key was used with a different request.",
        "The same `Idempotency-Key` was sent earlier with another method, path or body.",
        "Use a new key for each distinct operation.");
    InsufficientFunds = ("insufficient_funds", 422, "Insufficient funds", "The available balance does not cover this amount.",
        "The available balance in this currency is lower than the requested amount.",
        "Lower the amount or wait for pending funds to settle.");
    RefundExceedsPayment = ("refund_exceeds_payment", 422, "Refund exceeds payment", "The refund is larger than what remains to refund of the payment.",
        "The amount, added to what was already refunded of this payment, is more than the payment received.",
        "Fetch the payment: refund at most `amount_received` minus `amount_refunded`, or leave `amount` out to refund the rest.");
    NetworkUnavailable = ("network_unavailable", 422, "Network unavailable", "This network cannot be used for this operation here.",
        "Money would have to move on a network this server does not run here: no Ethereum chain (or no contract for this token) is configured for this environment, or a crypto refund needs the payout path of its network.",
        "Use another currency or method, ask the operator to configure the chain and token (docs/stablecoins.md), or refund the payor another way.");
    InvalidDestination = ("invalid_destination", 422, "Invalid destination", "The payout destination is not valid.",
        "The bitcoin address is not valid for this environment's network, or the IBAN fails its check.",
        "Check the address or IBAN and send it again.");
    UrlNotAllowed = ("url_not_allowed", 422, "URL not allowed", "This URL cannot be used as a webhook endpoint.",
        "The URL points (or resolves) to a private, loopback, link-local or otherwise internal address, carries user info, or is not HTTPS in live mode.",
        "Use a public `https://` URL that resolves to a public address.");
    RateLimited = ("rate_limited", 429, "Too many requests", "Rate limit exceeded.",
        "Too many requests in the current window for this IP, merchant or operation.",
        "Wait for the number of seconds in `Retry-After`, then retry.");
    InternalError = ("internal_error", 500, "Internal error", "Service temporarily unavailable. Please try again.",
        "An unexpected error on the server. It has been logged under the request id.",
        "Retry later; if it persists, contact the operator with the `request_id`.");
    ServiceUnavailable = ("service_unavailable", 503, "Service unavailable", "Service temporarily unavailable. Please try again.",
        "The server or one of its dependencies is temporarily unavailable.",
        "Retry with backoff, honouring `Retry-After` when present.");
}

/// One invalid field of a `validation_failed` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The RFC 9457 problem body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem with the code's generic detail.
    pub fn new(code: ErrorCode, request_id: impl Into<String>) -> Self {
        Self {
            type_uri: format!("/docs/errors#{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status(),
            detail: code.default_detail().to_owned(),
            code,
            request_id: request_id.into(),
            errors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(*code));
            let json = serde_json::to_string(code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(ErrorCode::ALL.len(), 42);
    }

    #[test]
    fn server_errors_are_opaque() {
        for code in [ErrorCode::InternalError, ErrorCode::ServiceUnavailable] {
            assert_eq!(
                code.default_detail(),
                "Service temporarily unavailable. Please try again."
            );
        }
    }

    #[test]
    fn problem_serializes_as_rfc9457() {
        let problem = Problem::new(ErrorCode::InvalidSignature, "req_x");
        let value = serde_json::to_value(&problem).unwrap_or_default();
        assert_eq!(value["type"], "/docs/errors#invalid_signature");
        assert_eq!(value["status"], 401);
        assert_eq!(value["code"], "invalid_signature");
        assert!(value.get("errors").is_none());
    }
}
