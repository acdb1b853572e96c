#!/usr/bin/env bash
# The browser SDK's Vitest suite. Installs its dev dependencies from the lock
# file on first use (and again only when it changes).
set -euo pipefail
cd "$(dirname "$0")"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.paygate-lock 2>/dev/null || true)" != "$want" ]; then
  # `npm install --no-save` installs the locked versions; `npm ci` refuses
  # lock files that list only this platform's optional packages.
  npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.paygate-lock
fi
npx vitest run
