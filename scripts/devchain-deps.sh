#!/usr/bin/env bash
# Installs the development chain's tools from npm, idempotently, into a folder
# outside the clone: anvil (@foundry-rs/anvil, whose platform package carries
# the binary, so nothing is downloaded at install) and the Solidity compiler
# (solc, compiled to JavaScript). Prints nothing but the bin folder on stdout.
#
#   PAYGATE_DEVCHAIN_HOME  where to install (default ~/.cache/paygate-devchain)
set -euo pipefail

ANVIL_VERSION=1.7.1
SOLC_VERSION=0.8.30
home="${PAYGATE_DEVCHAIN_HOME:-$HOME/.cache/paygate-devchain}"
stamp="$home/.installed-anvil-$ANVIL_VERSION-solc-$SOLC_VERSION-v2"

if [ ! -e "$stamp" ]; then
  command -v npm >/dev/null || { echo "devchain-deps: npm is required (Node.js 18+)" >&2; exit 1; }
  mkdir -p "$home"
  [ -e "$home/package.json" ] || echo '{"private":true}' >"$home/package.json"
  echo "devchain-deps: installing @foundry-rs/anvil@$ANVIL_VERSION and solc@$SOLC_VERSION into $home" >&2
  npm install --prefix "$home" --no-audit --no-fund --silent \
    "@foundry-rs/anvil@$ANVIL_VERSION" "solc@$SOLC_VERSION" >&2
  # The platform binary itself, not npm's node wrapper (a wrapper killed by
  # a test would leave anvil running).
  mkdir -p "$home/bin"
  for b in "$home"/node_modules/@foundry-rs/anvil-*/bin/anvil; do ln -sf "$b" "$home/bin/anvil"; done
  ln -sf "$home/node_modules/.bin/solcjs" "$home/bin/solcjs"
  "$home/bin/anvil" --version >/dev/null
  touch "$stamp"
fi
echo "$home/bin"
