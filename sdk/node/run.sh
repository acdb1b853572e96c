#!/usr/bin/env bash
# The Node.js SDK's suite: installs its dev dependencies from the lock file
# on first use (and again only when it changes), builds the `paygate` binary
# (and `paygate-cli`, the Rust SDK's, for the wire comparison) and the
# package, type-checks, and runs the Vitest suite against real
# `paygate serve` processes it starts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.paygate-lock 2>/dev/null || true)" != "$want" ]; then
  # `npm install --no-save` installs the locked versions; `npm ci` refuses
  # lock files that list only this platform's optional packages.
  npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.paygate-lock
fi

(cd "$root" && cargo build --quiet -p paygate-server -p paygate-sdk --bin paygate --bin paygate-cli)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export PAYGATE_BIN="$target_dir/debug/paygate"
# The Rust SDK's CLI, for the wire comparison (test/wire.test.ts).
export PAYGATE_CLI_BIN="$target_dir/debug/paygate-cli"

npx tsc -p tsconfig.json
npx tsc -p tsconfig.test.json
npx vitest run "$@"
