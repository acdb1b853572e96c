//! Black-box tests: the real server on port 0 with real TLS and a temporary
//! data directory, called over HTTPS through the SDK or a plain HTTPS client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_helpers;
mod chain_api_support;
mod chain_process;
mod chain_support;
mod cluster;
mod money_support;
mod support;

mod audit;
mod balance_transactions;
mod bodies;
mod chain_api;
mod chain_bench;
mod chain_deposits;
mod chain_https;
mod chain_isolation;
mod chain_reorgs;
mod chain_restart;
mod chain_sweeps;
mod checkout;
mod cli;
mod crash;
mod credentials;
mod dashboard;
mod dashboard_finance;
mod dashboard_pages;
mod errors;
mod findings;
mod findings_input;
mod findings_revocation;
mod idempotency;
mod key_lifecycle;
mod keys;
mod leaked_keys;
mod ledger_property;
mod lists;
mod metrics;
mod multi_instance;
mod operations;
mod payments;
mod rate_limits;
mod realtime;
mod refunds;
mod revocation_path;
mod schema_parity;
mod security_alerts;
mod signatures;
mod slow_clients;
mod tokens;
mod transport;
mod wallets;
mod webhooks;
mod withdrawals;
