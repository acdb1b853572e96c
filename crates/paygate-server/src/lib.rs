//! The Paygate server: configuration, transport, authentication, persistence
//! and the API's resources. The `paygate` binary is a thin CLI over this.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod app;
pub mod audit;
pub mod auth;
pub mod balance;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod docs;
pub mod health;
pub mod http;
pub mod ids;
pub mod keys;
pub mod merchants;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod realtime;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod webhooks;
