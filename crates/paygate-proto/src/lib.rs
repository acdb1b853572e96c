//! Paygate's wire contract as code: error codes, credential formats, header
//! names, the request-signing scheme and the shapes of requests and replies.
//!
//! The server and the SDK both depend on this crate, so they cannot drift
//! apart. It does no I/O.
#![forbid(unsafe_code)]

pub mod auth;
pub mod checkout;
pub mod credentials;
pub mod error;
pub mod headers;
pub mod money;
pub mod payments;
pub mod realtime;
pub mod refunds;
pub mod scopes;
pub mod signing;
pub mod types;
pub mod webhooks;

pub use credentials::{ApiKey, ApiSecret, CredentialError, Environment, MerchantId};
pub use error::{ErrorCode, FieldError, Problem};
pub use scopes::Scope;
