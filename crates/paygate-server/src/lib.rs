//! The Paygate server: configuration, transport, authentication, persistence
//! and the API's resources. The `paygate` binary is a thin CLI over this.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod app;
pub mod audit;
pub mod audit_events;
pub mod auth;
pub mod balance;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dashboard;
pub mod docs;
pub mod health;
pub mod http;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod merchants;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod realtime;
pub mod security_policy;
pub mod serve;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod webhooks;
