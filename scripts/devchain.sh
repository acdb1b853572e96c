#!/usr/bin/env bash
# A development chain on this machine: installs anvil and solc if needed
# (scripts/devchain-deps.sh), starts anvil on 127.0.0.1:$PORT (default 8545,
# chain id 31337, a block every $BLOCK_TIME seconds, default 1), deploys test
# USDC and test USDT (devchain/build, 6 decimals, open mint) and prints the
# configuration lines for paygate.toml. Runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8545}"
BLOCK_TIME="${BLOCK_TIME:-1}"
bin="$(./scripts/devchain-deps.sh)"

"$bin/anvil" --host 127.0.0.1 --port "$PORT" --chain-id 31337 --block-time "$BLOCK_TIME" --silent &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
read -r usdc usdt < <(node devchain/deploy.js "http://127.0.0.1:$PORT" | sed 's/USDC=//; s/USDT=//')
cat <<TOML
# anvil is running (pid $anvil_pid). Add to paygate.toml:
[chains.test.ethereum]
rpc_url = "http://127.0.0.1:$PORT"
chain_id = 31337
confirmations = 2
poll_interval_ms = 500
tokens = { USDC = "$usdc", USDT = "$usdt" }
# Mint test USDC to any address: see docs/stablecoins.md.
TOML
wait "$anvil_pid"
