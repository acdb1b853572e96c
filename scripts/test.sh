#!/usr/bin/env bash
# The whole test suite: Rust unit and black-box tests (real server, real TLS,
# temporary SQLite), doc tests, then the suites in tests/ that use
# third-party clients and the browser SDK's suite in sdk/js, each installing
# what it needs on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# The stablecoin tests run a real chain: anvil and solc from npm, installed
# once outside the clone (scripts/devchain-deps.sh prints where).
if command -v npm >/dev/null; then
  PAYGATE_ANVIL="$(./scripts/devchain-deps.sh)/anvil"
  export PAYGATE_ANVIL
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
cargo test --workspace --doc --quiet

for suite in tests/*/run.sh sdk/*/run.sh; do
  [ -e "$suite" ] || continue
  echo "== $suite"
  bash "$suite"
done
