//! The stablecoin rail on an EVM chain (docs/stablecoins.md): configuration,
//! the signer's client, the sandbox signer, address checks.

pub mod config;
