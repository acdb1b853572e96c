#!/usr/bin/env bash
# The stablecoin deposit benchmark: 1,000 transfers of test USDC spread over
# 100 blocks (one a second) to 1,000 deposit addresses on anvil, the real
# server and its sandbox signer, the watcher polling every second with 3
# confirmations. Reports how long after each block's confirmation block its
# transfers were credited, and the CPU per block.
# Usage: bench/chain_deposits.sh   (BENCH_BLOCKS, BENCH_PER_BLOCK,
#   BENCH_CONFIRMATIONS, BENCH_POLL_MS change the shape)
# Prints a Markdown section (bench/run.sh collects it into docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PAYGATE_ANVIL="${PAYGATE_ANVIL:-$(./scripts/devchain-deps.sh)/anvil}"
export PAYGATE_ANVIL
cargo build --quiet -p paygate-signer
cargo test --quiet -p paygate-server --test api chain_bench::bench_chain_deposits -- --ignored --nocapture --exact 2>/dev/null |
  sed -n '/^## Stablecoin deposits/,/^| blocks credited/p'
