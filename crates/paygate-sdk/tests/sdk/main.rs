//! The SDK and `paygate-cli` against the real server (started in-process on
//! port 0 with a fresh data directory, over real TLS): one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod proxy;
mod resilience;
mod routes;
mod scan;
mod support;
mod tokens;
