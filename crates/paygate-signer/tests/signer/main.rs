//! Black-box tests of the paygate-signer binary: its socket, its policy, its
//! audit log and attestation, and transactions it signs executed by a real
//! anvil (skipped, saying so, when anvil is not installed: run
//! scripts/devchain-deps.sh).

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod intents;
mod payouts;
mod support;
