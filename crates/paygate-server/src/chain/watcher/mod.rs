//! The chain watcher (docs/stablecoins.md).

pub mod state;
