#!/usr/bin/env bash
# Durable payment creation per second with N concurrent clients, beside the
# same machine's single-row durable SQLite commit rate, measured in one run.
# Usage: bench/money.sh [--clients 32] [--secs 10]
# Prints the Markdown rows recorded in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p paygate-server --example money_bench -- "$@"
