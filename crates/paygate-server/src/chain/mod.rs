//! Stablecoins on an EVM chain (docs/stablecoins.md).

pub mod credit;
pub mod rpc;
pub mod watcher;
