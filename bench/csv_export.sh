#!/usr/bin/env bash
# Exports 100,000 balance transactions as CSV (GET /v1/balance-transactions
# with Accept: text/csv) and reports the time and the server's peak RSS.
# The rows are ledger entries written straight into a fresh SQLite data
# directory (posting 100,000 payments over HTTP would measure payments).
# Usage: bench/csv_export.sh [rows]   (PAYGATE_BIN=path uses a built binary)
# Prints a Markdown section (bench/run.sh collects it into docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-100000}"
if [ -z "${PAYGATE_BIN:-}" ]; then
  cargo build --quiet --release -p paygate-server --bin paygate
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  PAYGATE_BIN="$target/release/paygate"
fi
data="$(mktemp -d)"
out="$(mktemp)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$data" "$out"; }
trap cleanup EXIT

serve() {
  PAYGATE_LISTEN=127.0.0.1:0 PAYGATE_ADMIN_LISTEN=127.0.0.1:0 \
    "$PAYGATE_BIN" --json --data-dir "$data" serve >"$data/banner" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do [ -s "$data/banner" ] && break; sleep 0.1; done
}

# First start: the sandbox merchant and key exist; then stop and seed.
serve
banner="$(head -1 "$data/banner")"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
merchant="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sandbox"]["merchant_id"])' "$banner")"
key="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sandbox"]["key"])' "$banner")"
python3 - "$data/paygate.db" "$merchant" "$rows" <<'PY'
import sqlite3, sys, time
db, merchant, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = sqlite3.connect(db)
now = int(time.time()) - rows
def entries():
    for i in range(rows):
        ltx = f"ltx_bench{i:019d}"
        yield (merchant, "test", ltx, now + i, "payment", f"pay_bench{i:019d}", "external:card", "USD", -100, -100 * (i + 1))
        yield (merchant, "test", ltx, now + i, "payment", f"pay_bench{i:019d}", "available", "USD", 100, 100 * (i + 1))
conn.executemany(
    "INSERT INTO ledger_entries (merchant_id, env, transaction_id, created_at, source_type, source_id, account, currency, amount, balance_after) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", entries())
for account, amount in (("available", 100 * rows), ("external:card", -100 * rows)):
    conn.execute("INSERT INTO ledger_balances (merchant_id, env, account, currency, amount) VALUES (?, 'test', ?, 'USD', ?)",
                 (merchant, account, amount))
conn.commit()
PY
serve
banner="$(head -1 "$data/banner")"
port="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["listen"].rsplit(":", 1)[1])' "$banner")"
ca="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cert_path"])' "$banner")"
rss_before="$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
start="$(date +%s.%N)"
curl -sS --fail --cacert "$ca" -H "x-api-key: $key" -H 'accept: text/csv' \
  "https://localhost:$port/v1/balance-transactions" -o "$out"
end="$(date +%s.%N)"
peak="$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
lines="$(wc -l <"$out")"
bytes="$(stat -c %s "$out")"
last="$(tail -1 "$out" | cut -d, -f6)"
secs="$(python3 -c "print(f'{$end - $start:.2f}')")"
build="release"; case "$PAYGATE_BIN" in */debug/*) build="debug (unoptimized)";; esac
cat <<MD
## CSV export of balance transactions (streamed)

Command: \`bench/csv_export.sh $rows\`: $rows balance transactions (ledger entries on
\`available\`) seeded into a fresh SQLite data directory, then one
\`GET /v1/balance-transactions\` with \`Accept: text/csv\` over TLS on loopback
(curl), $build build of \`paygate serve\`. Peak RSS is the server's \`VmHWM\`
after the export (it includes start-up).

| what | result |
|---|---|
| rows exported (plus header) | $((lines - 1)) |
| CSV size | $((bytes / 1024)) KiB |
| time | $secs s |
| server RSS before the export | $((rss_before / 1024)) MiB |
| server peak RSS | $((peak / 1024)) MiB |
| last balance_after | $last (expected $((rows * 100))) |

Aim: streamed, peak RSS under 100 MiB ($((peak / 1024)) MiB here: $([ $((peak / 1024)) -lt 100 ] && echo met || echo '**not met**')).
MD
