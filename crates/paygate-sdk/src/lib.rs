//! The merchant's Rust client for the Paygate API.
//!
//! Safe by default:
//! - TLS verification cannot be turned off (a private CA may be added), the
//!   base URL must be `https` without user info, and no redirect is
//!   followed, so credentials go to the configured server and nowhere else.
//! - Every state-changing request carries an `Idempotency-Key` (a UUID v4,
//!   or the caller's own via [`Client::with_idempotency_key`], kept as given).
//! - Only requests that are safe to repeat are retried, with exponential
//!   backoff and full jitter, honouring `Retry-After` on `429` and `503`
//!   ([`RetryPolicy`]).
//! - Keys, secrets and tokens live in redacting types: `Debug` never prints them.
//! - Errors carry the server's stable code and request id ([`ApiError`]).
//!
//! Three ways to authenticate, one builder:
//!
//! **API key** (`x-api-key` on every request):
//!
//! ```no_run
//! # async fn demo() -> Result<(), paygate_sdk::Error> {
//! let client = paygate_sdk::Client::builder("https://127.0.0.1:8443")
//!     .api_key("sk_test_...")
//!     .add_root_certificate_pem(std::fs::read("paygate-data/tls/cert.pem").unwrap_or_default())
//!     .build()?;
//! let balance = client.balance().await?;
//! println!("{:?}", balance.balances);
//! # Ok(()) }
//! ```
//!
//! **Access tokens** (the key is exchanged for 60-second tokens, cached,
//! renewed 10 s before expiry or when the server says `token_expired`;
//! concurrent renewals share one exchange):
//!
//! ```no_run
//! # async fn demo() -> Result<(), paygate_sdk::Error> {
//! use paygate_sdk::proto::payments::CreatePayment;
//!
//! let client = paygate_sdk::Client::builder("https://api.example.com")
//!     .api_key("sk_live_...")
//!     .merchant_id("MCH-ZA-7K2Q9X")
//!     .access_tokens()
//!     .build()?;
//! let payment = client
//!     .create_payment(&CreatePayment {
//!         amount: 1999,
//!         currency: "USD".into(),
//!         method: "card".into(),
//!         description: Some("Order 42".into()),
//!         metadata: None,
//!         card: None,
//!     })
//!     .await?;
//! println!("{} {}", payment.id, payment.status);
//! # Ok(()) }
//! ```
//!
//! **Signed requests** (with the API secret every request is signed; the
//! secret itself never travels; key management and payout approval need it):
//!
//! ```no_run
//! # async fn demo() -> Result<(), paygate_sdk::Error> {
//! use futures_util::TryStreamExt as _;
//! use paygate_sdk::ListParams;
//!
//! let client = paygate_sdk::Client::builder("https://api.example.com")
//!     .api_key("sk_live_...")
//!     .api_secret("sec_live_...")
//!     .build()?;
//! let pending: Vec<_> = client
//!     .list_withdrawals(&ListParams::default().limit(100))
//!     .items()
//!     .try_filter(|w| std::future::ready(w.status == "pending_approval"))
//!     .try_collect()
//!     .await?;
//! for withdrawal in pending {
//!     client.approve_withdrawal(&withdrawal.id).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Webhook receivers use [`webhook::WebhookVerifier`].
#![forbid(unsafe_code)]

mod api;
mod auth;
mod builder;
mod client;
mod endpoint;
mod error;
mod list;
mod realtime;
mod response;
mod retry;
pub mod scan;
mod tls;
pub mod webhook;

pub use auth::AuthMode;
pub use builder::ClientBuilder;
pub use client::Client;
pub use error::{ApiError, Error};
pub use list::{ListParams, Order, Page, Pager};
pub use paygate_proto as proto;
pub use realtime::{RealtimeEvents, ReceivedEvent};
pub use response::{decode_problem, RawResponse};
pub use retry::RetryPolicy;
