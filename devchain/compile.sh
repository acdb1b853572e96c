#!/usr/bin/env bash
# Compiles contracts/TestTokens.sol once with npm solc (pinned by
# scripts/devchain-deps.sh) into build/: <Contract>.bin (creation bytecode,
# hex) and <Contract>.abi (JSON), plus build/COMPILER naming the compiler.
# The outputs are committed; rerun only when the source changes.
set -euo pipefail
cd "$(dirname "$0")"
bin="$(../scripts/devchain-deps.sh)"
rm -rf build.tmp && mkdir build.tmp
"$bin/solcjs" --bin --abi --optimize --optimize-runs 200 -o build.tmp contracts/TestTokens.sol >/dev/null
rm -rf build && mkdir build
for c in TestUSDC TestUSDT; do
  mv "build.tmp/contracts_TestTokens_sol_$c.bin" "build/$c.bin"
  mv "build.tmp/contracts_TestTokens_sol_$c.abi" "build/$c.abi"
done
rm -rf build.tmp
echo "solc $("$bin/solcjs" --version) (npm solc, solcjs --optimize --optimize-runs 200)" >build/COMPILER
