#!/usr/bin/env bash
# Lockdown across instances, for docs/benchmarks.md (section "Lockdown"):
# two release `paygate serve` processes share one database (PostgreSQL when
# it answers on 127.0.0.1:5432, else one SQLite file) and one data directory
# (master key, certificate). Each trial locks the sandbox merchant down on
# instance A, then at once calls instance B with the key that was just
# revoked (must be 401) and with the new key (must be 200). Prints the
# lockdown call's latency and how many first requests on B saw the change.
#
#   bench/lockdown.sh [trials, default 50] [profile: release (default) or debug]
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-50}"
profile="${2:-release}"

if [ "$profile" = release ]; then
  cargo build --quiet --release -p paygate-server --bin paygate
else
  cargo build --quiet -p paygate-server --bin paygate
  profile=debug
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/$profile/paygate"

work="$(mktemp -d)"
pids=()
database=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "$database" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$database\" with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

database_url=""
backend="SQLite (one file, two processes)"
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v psql >/dev/null; then
  database="paygate_bench_lockdown_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$database\"" >/dev/null
  database_url="postgres://postgres@127.0.0.1:5432/$database"
  backend="PostgreSQL"
fi

# start NAME: a server on the shared data directory; its banner in $work/NAME.json.
start() {
  env -u PAYGATE_MASTER_KEY PAYGATE_LISTEN=127.0.0.1:0 PAYGATE_ADMIN_LISTEN=127.0.0.1:0 \
    PAYGATE_RATE_LIMITS__ENABLED=false PAYGATE_DATABASE_URL="$database_url" \
    "$bin" --json --data-dir "$work/data" serve >"$work/$1.json" 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$work/$1.json" ] && return 0; sleep 0.1; done
  echo "instance $1 did not start" >&2
  exit 1
}
start a
start b

read -r url_a ca key secret < <(jq -r '[.url, .cert_path, .sandbox.key, .sandbox.secret] | join(" ")' "$work/a.json")
url_b="$(jq -r .url "$work/b.json")"

status() { curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -H "x-api-key: $2" "$1/v1/balance"; }

refused=0
accepted=0
: >"$work/latency"
for _ in $(seq "$trials"); do
  timing="$(curl -s -o "$work/lockdown.json" -w '%{http_code} %{time_total}' --cacert "$ca" \
    -X POST -H "x-api-key: $key" -H "x-api-secret: $secret" "$url_a/v1/security/lockdown")"
  if [ "${timing%% *}" != 200 ]; then
    echo "lockdown answered ${timing%% *}: $(cat "$work/lockdown.json")" >&2
    grep -h '"level":"\(WARN\|ERROR\)"' "$work/a.log" | tail -5 >&2
    exit 1
  fi
  echo "${timing##* }" >>"$work/latency"
  old="$key"
  key="$(jq -r .new_key.key "$work/lockdown.json")"
  secret="$(jq -r .new_key.secret "$work/lockdown.json")"
  [ "$(status "$url_b" "$old")" = 401 ] && refused=$((refused + 1))
  [ "$(status "$url_b" "$key")" = 200 ] && accepted=$((accepted + 1))
done

python3 - "$work/latency" "$trials" "$refused" "$accepted" "$backend" "$profile" <<'PY'
import statistics, sys
latencies = sorted(float(line) * 1000 for line in open(sys.argv[1]))
trials, refused, accepted, backend, profile = sys.argv[2:7]
def pct(p):
    return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]
print("## Lockdown")
print()
print(f"Two `paygate serve` processes on one database ({backend}). Each trial locks")
print("the merchant down on instance A, then at once calls instance B with the key")
print("just revoked and with the new key (each call a new TLS connection).")
print()
print("| trials | lockdown call p50 | p95 | max | old key refused on B's first request | new key accepted on B's first request |")
print("|---:|---:|---:|---:|---:|---:|")
print(f"| {trials} | {statistics.median(latencies):.1f} ms | {pct(95):.1f} ms | {latencies[-1]:.1f} ms | {refused}/{trials} | {accepted}/{trials} |")
print()
command = f"bench/lockdown.sh {trials}" + ("" if profile == "release" else f" {profile}")
print(f"Command: `{command}` ({profile} build, loopback, TLS).")
PY
