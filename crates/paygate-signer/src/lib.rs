//! paygate-signer: the only holder of Paygate's chain keys, as a library for
//! its binary and tests (never linked into paygate-server).

pub mod audit;
pub mod eth;
pub mod hd;
pub mod payout;
pub mod policy;
pub mod seal;
pub mod server;
pub mod store;
