#!/usr/bin/env bash
# Dependency hygiene with cargo-deny (deny.toml): licences from an allowlist,
# crates from crates.io only, duplicate versions listed as warnings. Installs
# cargo-deny on first use (a long build, once; it stays in ~/.cargo/bin).
#
# The advisory check needs the RustSec database, fetched from GitHub, which
# CI on this machine cannot reach; so CI checks the offline parts. Operators,
# on a machine that can reach GitHub, before each release and on a schedule:
#
#   cargo deny check advisories      # or `cargo deny check` for everything
#
# `scripts/deny.sh advisories` runs that here when the network allows.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny (once)"
  cargo install --locked cargo-deny
fi
if [ "${1:-}" = advisories ]; then
  exec cargo deny check advisories
fi
# cargo-deny reads the manifests of every locked package, those of other
# platforms included, without downloading them itself when offline.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources
