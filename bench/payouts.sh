#!/usr/bin/env bash
# The stablecoin payout benchmark: 100 USDC withdrawals approved at once on
# anvil mining a block a second, the real server and its sandbox signer, 3
# confirmations, the payout runner polling every second; once with a relay
# that forwards to the node (route `private`) and once with one that
# swallows every transaction (route `public_fallback` after the private
# timeout). Reports seconds and blocks from approval to paid, and the route mix.
# Usage: bench/payouts.sh   (BENCH_PAYOUTS, BENCH_CONFIRMATIONS, BENCH_POLL_MS,
#   BENCH_BLOCK_SECS, BENCH_TIMEOUT_BLOCKS change the shape; BENCH_RELAYS the
#   relays to run, of forward, swallow, refuse, none)
# Prints Markdown sections (docs/benchmarks.md carries them).
set -euo pipefail
cd "$(dirname "$0")/.."
PAYGATE_ANVIL="${PAYGATE_ANVIL:-$(./scripts/devchain-deps.sh)/anvil}"
export PAYGATE_ANVIL
cargo build --quiet -p paygate-signer
for relay in ${BENCH_RELAYS:-forward swallow}; do
  BENCH_RELAY="$relay" cargo test --quiet -p paygate-server --test api \
    chain_payouts_bench::bench_payouts -- --ignored --nocapture --exact 2>/dev/null |
    sed -n '/^## Stablecoin payouts/,/^| CPU of the process/p'
  echo
done
