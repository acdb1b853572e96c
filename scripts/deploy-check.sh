#!/usr/bin/env bash
# Runs docs/deploy.md as written: every shell block marked
# `<!-- deploy-check -->`, in order, with loopback services, free ports and a
# temporary directory in place of the production defaults. That starts three
# instances on one fresh PostgreSQL database and one Redis; then a live key
# is used on each instance through the proxy headers and revoked with the
# CLI, and must fail on all three.
#
# Needs PostgreSQL (DEPLOY_CHECK_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres, with psql) and Redis
# (DEPLOY_CHECK_REDIS_URL, default redis://127.0.0.1:6379), curl and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

admin_url="${DEPLOY_CHECK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="paygate_deploycheck_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d)"

cleanup() {
  local pid
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet -p paygate-server --bin paygate
psql "$admin_url" -qc "CREATE DATABASE $database" >/dev/null

# The doc's variables, pointed at this machine.
export PAYGATE_BIN="$CARGO_TARGET_DIR/debug/paygate"
export ETC="$work/etc" STATE="$work/state"
export DATABASE_URL="${admin_url%/*}/$database"
export REDIS_URL="${DEPLOY_CHECK_REDIS_URL:-redis://127.0.0.1:6379}"
export PROXY_CIDR="127.0.0.1/32" PUBLIC_URL="https://localhost"
# Three free API ports and three free admin ports.
free_port_base() {
  local base i
  while :; do
    base=$((20000 + RANDOM % 30000))
    for i in 0 1 2; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; then continue 2; fi
    done
    echo "$base"
    return
  done
}
export FIRST_PORT FIRST_ADMIN_PORT
FIRST_PORT="$(free_port_base)"
FIRST_ADMIN_PORT="$(free_port_base)"
# Runs sharing a Redis never share a counter.
export PAYGATE_REDIS_KEY_PREFIX="deploy-check:$database:"

# The marked blocks, in the order the doc gives them.
steps="$work/steps.sh"
awk '/<!-- deploy-check -->/ { armed = 1; next }
     armed && /^```sh$/ { inside = 1; next }
     inside && /^```$/ { inside = 0; armed = 0; print ""; next }
     inside { print }' docs/deploy.md > "$steps"
[ "$(grep -c . "$steps")" -gt 20 ] || { echo "deploy-check: no marked steps found in docs/deploy.md" >&2; exit 1; }

echo "== docs/deploy.md, step by step"
# shellcheck source=/dev/null
source "$steps"

echo "== a live key through the proxy headers on each instance, then revoked"
key=$(sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' "$ETC/first-key.json")
key_id=$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' "$ETC/first-key.json")
[ -n "$key" ] && [ -n "$key_id" ] || { echo "deploy-check: no key in first-key.json" >&2; exit 1; }
balance_status() {
  curl -sS -o /dev/null -w '%{http_code}' -H 'X-Forwarded-Proto: https' -H "X-API-Key: $key" \
    "http://127.0.0.1:$((FIRST_PORT + $1 - 1))/v1/balance"
}
for i in 1 2 3; do
  status=$(balance_status "$i")
  [ "$status" = 200 ] || { echo "deploy-check: instance $i answered $status with a live key" >&2; exit 1; }
done
( set -a; . "$ETC/paygate.env"; set +a
  "$PAYGATE_BIN" --config "$ETC/paygate.toml" --data-dir "$STATE/admin" keys revoke "$key_id" >/dev/null )
for i in 1 2 3; do
  status=$(balance_status "$i")
  [ "$status" = 401 ] || { echo "deploy-check: instance $i answered $status after the revoke" >&2; exit 1; }
done
echo "== deploy check passed: three instances on PostgreSQL and Redis, as docs/deploy.md says"
