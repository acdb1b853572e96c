#!/usr/bin/env bash
# Webhook delivery figures for docs/benchmarks.md (section "Webhooks"):
# signing cost, deliveries/s from 10,000 queued events to a local receiver,
# the same beside a receiver that sleeps 5 s per request, and event-to-receipt
# latency. Everything runs in one process on loopback, bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p paygate-server --example webhook_bench
