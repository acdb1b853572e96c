#!/usr/bin/env bash
# Authenticated GET /v1/balance throughput over TLS with keep-alive, beside
# /healthz in the same run: (a) API key, (b) access token, (c) token plus a
# request signature on every call. Starts a release `paygate serve` on
# loopback with a fresh data directory, runs examples/loadgen.rs against it
# for each mode in turn, prints one JSON line per mode and a table.
#
#   bench/auth_throughput.sh [seconds per mode, default 10] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-32}"

cargo build --quiet --release -p paygate-server --bin paygate --example loadgen
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/paygate"
loadgen="$target_dir/release/examples/loadgen"

data_dir="$(mktemp -d)"
banner="$data_dir/banner.json"
# Rate limits out of the way: this measures authentication, not limiting.
env -u PAYGATE_MASTER_KEY PAYGATE_LISTEN=127.0.0.1:0 \
  PAYGATE_RATE_LIMITS__STANDARD__LIMIT=100000000 PAYGATE_RATE_LIMITS__MERCHANT__LIMIT=100000000 \
  "$bin" --json --data-dir "$data_dir/data" serve >"$banner" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do [ -s "$banner" ] && break; sleep 0.1; done

read -r url ca key secret merchant < <(python3 -c '
import json,sys
b=json.loads(open(sys.argv[1]).readline())
s=b["sandbox"]
print(b["url"], b["cert_path"], s["key"], s["secret"], s["merchant_id"])' "$banner")

results=()
for mode in healthz key token token-signed; do
  line="$("$loadgen" --url "$url" --ca "$ca" --mode "$mode" --key "$key" --secret "$secret" \
    --merchant "$merchant" --connections "$connections" --seconds "$seconds")"
  echo "$line"
  results+=("$line")
done

printf '%s\n' "${results[@]}" | python3 -c '
import json,sys
rows=[json.loads(l) for l in sys.stdin]
base=rows[0]["rps"] or 1
print("| mode | req/s | failed | vs /healthz |")
print("|---|---:|---:|---:|")
for r in rows:
    print(f"| {r[\"mode\"]} | {r[\"rps\"]:.0f} | {r[\"failed\"]} | {100*r[\"rps\"]/base:.0f}% |")'
