//! The merchant's Rust client for the Paygate API.
//!
//! Safe by default: TLS verification cannot be turned off (a private CA may
//! be added), credentials live in redacting types, requests are signed when
//! an API secret is configured, and every error carries its stable code and
//! request id.
//!
//! ```no_run
//! # async fn demo() -> Result<(), paygate_sdk::Error> {
//! let client = paygate_sdk::Client::builder("https://127.0.0.1:8443")
//!     .api_key("sk_test_...")
//!     .build()?;
//! let balance = client.balance().await?;
//! println!("{:?}", balance.balances);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
mod error;
pub mod scan;

pub use client::{decode_problem, Client, ClientBuilder, RawResponse};
pub use error::{ApiError, Error};
pub use paygate_proto as proto;
