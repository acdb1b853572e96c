//! Header names of the API contract, in one place.

pub const API_KEY: &str = "x-api-key";
/// Accepted alias of [`API_KEY`].
pub const API_KEY_ALIAS: &str = "apikey";
pub const MERCHANT_ID: &str = "x-merchant-id";
pub const API_SECRET: &str = "x-api-secret";
pub const SESSION_ID: &str = "x-session-id";
pub const TIMESTAMP: &str = "x-timestamp";
pub const SIGNATURE: &str = "x-signature";
pub const REQUEST_ID: &str = "x-request-id";
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
pub const SESSION_TOKEN: &str = "x-session-token";
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
