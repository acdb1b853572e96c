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
# Prints a Markdown section (bench/run.sh collects it into docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PAYGATE_ANVIL="${PAYGATE_ANVIL:-$(./scripts/devchain-deps.sh)/anvil}"
export PAYGATE_ANVIL
cargo build --quiet -p paygate-signer
echo "## Stablecoin payouts: approved to paid"
echo
for relay in ${BENCH_RELAYS:-forward swallow}; do
  BENCH_RELAY="$relay" cargo test --quiet -p paygate-server --test api \
    chain_payouts_bench::bench_payouts -- --ignored --nocapture --exact 2>/dev/null |
    sed -n '/^### /,/^| CPU of the process/p'
  echo
done
cat <<'NOTES'
Measured with `bench/payouts.sh`. The relay is a recording JSON-RPC proxy
in front of anvil (the test suite's), so the calls each route made are
counted. Times run from the first approval request to the moment the
benchmark saw the withdrawal `paid` in the API, polling the list about every
100 ms; blocks are the chain's head at those moments. The blocks that hold
the payouts are the receipts' blocks: a payout is sent within a block or two
of its approval, so one block every second bounds the rest, confirmations
(3) plus, for the swallowing relay, the private timeout. The CPU figure is
the whole test process (server, runner, signer client, this client) during
that window; the signer is a separate process and not in it.
NOTES
