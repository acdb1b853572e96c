//! The Paygate server: configuration, transport, authentication, persistence
//! and the API's resources. The `paygate` binary is a thin CLI over this.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod api_keys;
pub mod app;
pub mod audit;
pub mod audit_events;
pub mod auth;
pub mod balance;
pub mod checkout;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dashboard;
pub mod docs;
pub mod events;
pub mod health;
pub mod hosted;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod key_age;
pub mod keys;
pub mod keyset;
pub mod leaked_keys;
pub mod ledger;
pub mod limits;
pub mod lockdown;
pub mod maintenance;
pub mod merchants;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod payments;
pub mod realtime;
pub mod security_policy;
pub mod serve;
pub mod sessions;
pub mod store;
pub mod suspension;
pub mod telemetry;
pub mod wallets;
pub mod watch;
pub mod webhooks;
pub mod withdrawals;
