//! Black-box tests: the real server on port 0 with real TLS and a temporary
//! data directory, called over HTTPS through the SDK or a plain HTTPS client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_helpers;
mod support;

mod audit;
mod cli;
mod credentials;
mod dashboard;
mod errors;
mod key_lifecycle;
mod keys;
mod metrics;
mod rate_limits;
mod realtime;
mod signatures;
mod slow_clients;
mod tokens;
mod transport;
mod webhooks;
