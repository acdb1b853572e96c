#!/usr/bin/env bash
# Durable payment creation per second, with p50/p99 latency, on one SQLite
# instance and on one, two and three instances sharing one PostgreSQL
# database and one Redis: each instance a `paygate serve` process (release
# build), the clients spread round-robin over them
# (crates/paygate-server/examples/money_bench.rs --urls).
# Usage: bench/instances.sh [--clients 32] [--secs 10] [--profile release|dev]
# Needs PostgreSQL (BENCH_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres, with psql) and Redis
# (BENCH_REDIS_URL, default redis://127.0.0.1:6379).
# Prints a Markdown section for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
clients=32 secs=10 profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="$2"; shift 2 ;;
    --secs) secs="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    *) echo "usage: bench/instances.sh [--clients N] [--secs S] [--profile release|dev]" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "--profile is release or dev" >&2; exit 2 ;;
esac
admin_url="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
work="$(mktemp -d)"
databases=()
# Stops every instance started so far (each started in a subshell, so by
# the pid it left beside its data).
stop_all() {
  local pidfile pid
  for pidfile in "$work"/*/pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$pidfile"
  done
}
cleanup() {
  local db
  stop_all
  for db in "${databases[@]}"; do
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --profile "$profile" -p paygate-server --bin paygate --example money_bench >&2
paygate="$CARGO_TARGET_DIR/$profile_dir/paygate"
bench="$CARGO_TARGET_DIR/$profile_dir/examples/money_bench"
master_key="$(openssl rand -hex 32)"
field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }

# Starts one `paygate serve` in the background (data dir $1, then extra
# VAR=value settings) and prints its banner line once it is listening.
serve() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  env PAYGATE_LISTEN=127.0.0.1:0 PAYGATE_ADMIN_LISTEN=127.0.0.1:0 PAYGATE_MASTER_KEY="$master_key" \
    PAYGATE_RATE_LIMITS__ENABLED=false PAYGATE_LOG=warn "$@" \
    "$paygate" --data-dir "$dir" --json serve > "$dir/stdout" 2> "$dir/log" &
  echo $! > "$dir/pid"
  until grep -q . "$dir/stdout" 2>/dev/null; do
    kill -0 $! 2>/dev/null || { cat "$dir/log" >&2; return 1; }
    sleep 0.1
  done
  head -n 1 "$dir/stdout"
}

# Runs the load against instances whose banners are in $2.. ; label $1.
measure() {
  local label="$1" urls="" banner ca="" key=""
  shift
  for banner in "$@"; do
    urls="$urls${urls:+,}https://localhost:$(echo "$banner" | field listen | sed 's/.*://')"
    [ -n "$ca" ] || ca="$(echo "$banner" | field cert_path)"
    [ -n "$key" ] || key="$(echo "$banner" | sed 's/.*"sandbox"//' | field key)"
  done
  "$bench" --urls "$urls" --ca "$ca" --key "$key" --clients "$clients" --secs "$secs" --label "$label"
}



rows=()
sqlite_banner="$(serve "$work/sqlite")"
rows+=("$(measure "1 instance, SQLite (WAL, synchronous=FULL)" "$sqlite_banner")")
stop_all

for n in 1 2 3; do
  db="paygate_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  databases+=("$db")
  psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
  shared=(PAYGATE_DATABASE_URL="${admin_url%/*}/$db" PAYGATE_REDIS_URL="$redis_url"
    PAYGATE_REDIS_KEY_PREFIX="bench:$db:")
  banners=("$(serve "$work/$db-1" "${shared[@]}")")
  for i in $(seq 2 "$n"); do
    banners+=("$(serve "$work/$db-$i" "${shared[@]}" PAYGATE_TLS__MODE=files \
      PAYGATE_TLS__CERT="$work/$db-1/tls/cert.pem" PAYGATE_TLS__KEY="$work/$db-1/tls/key.pem")")
  done
  rows+=("$(measure "$n instance$([ "$n" = 1 ] || echo s), PostgreSQL + Redis" "${banners[@]}")")
  stop_all
done

cat <<EOF
## Payment creation on one, two and three instances (PostgreSQL and Redis)

Command: \`bench/instances.sh --clients $clients --secs $secs --profile $profile\` ($profile build;
each instance a \`paygate serve\` process on loopback with TLS, rate limits
off; $clients keep-alive clients spread round-robin over the instances, each
\`POST /v1/payments\` authenticated by API key, idempotent, paid by test card
and acknowledged after its commit; PostgreSQL and Redis on the same machine,
a fresh database per row). Machine: $(nproc) cores, shared with the client,
the database and Redis, so more instances add contention, not capacity: on
one host the figures show the cost of sharing state, not how far separate
hosts scale.

| setup | payments/s | p50 ms | p99 ms | payments | errors |
|---|---:|---:|---:|---:|---:|
EOF
printf '%s\n' "${rows[@]}"
