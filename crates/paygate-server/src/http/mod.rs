//! Transport: the TLS listener with plain-HTTP sniffing, problem+json errors,
//! request ids, security headers, the client IP and the JSON extractor.

pub mod client_ip;
pub mod connections;
pub mod error;
pub mod json;
pub mod list;
pub mod listener;
pub mod no_body;
pub mod origin;
pub mod response;
pub mod tls;

pub use client_ip::ClientIp;
pub use error::{ApiError, ApiResult};
pub use json::ApiJson;
