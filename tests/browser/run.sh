#!/usr/bin/env bash
# Browser tests: Playwright (playwright-core) driving Debian's Chromium
# against a real `paygate serve`. Installs Chromium from Debian's packages and
# the npm dependencies on first use (idempotent). Screenshots go to
# artifacts/screenshots/ (not committed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is missing and this user cannot install it: apt-get install chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi

cd "$here"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.paygate-lock 2>/dev/null || true)" != "$want" ]; then
  # `npm install --no-save` installs the locked versions (`npm ci` refuses
  # lock files that list only this platform's optional packages).
  npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.paygate-lock
fi

(cd "$root" && cargo build --quiet -p paygate-server --bin paygate)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export PAYGATE_BIN="$target_dir/debug/paygate"

node --test --test-concurrency=1 tests/
