#!/usr/bin/env bash
# Latency against offered load: a release `paygate serve` on loopback (fresh
# data directory, limits high enough never to refuse), and
# examples/loadgen.rs in open-loop mode (`--rate`) at several fixed request
# rates of API-key `GET /v1/balance`, each for a few seconds. Latency runs
# from each request's scheduled start, so queueing in the server shows.
# Prints a Markdown section; writes the plot to docs/img/latency-vs-load.png
# (matplotlib, from a virtualenv made once from bench/requirements.txt).
#
#   bench/latency.sh [seconds per rate, default 5] [rates, default "250 500 1000 2000 3000 4000"]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
rates="${2:-250 500 1000 2000 3000 4000}"

cargo build --quiet --release -p paygate-server --bin paygate --example loadgen
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
want="$(sha256sum bench/requirements.txt | cut -c1-16)"
venv="$HOME/.cache/paygate-bench-venv-$want"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt >&2
  touch "$venv/.complete"
fi

work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

env -u PAYGATE_MASTER_KEY PAYGATE_LISTEN=127.0.0.1:0 PAYGATE_ADMIN_LISTEN=127.0.0.1:0 \
  PAYGATE_RATE_LIMITS__STANDARD__LIMIT=1000000000 PAYGATE_RATE_LIMITS__MERCHANT__LIMIT=1000000000 \
  "$target_dir/release/paygate" --json --data-dir "$work/data" serve >"$work/banner.json" 2>/dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$work/banner.json" ] && break; sleep 0.1; done
read -r url ca key < <(python3 -c '
import json,sys
b=json.loads(open(sys.argv[1]).readline())
print(b["url"], b["cert_path"], b["sandbox"]["key"])' "$work/banner.json")

for rate in $rates; do
  "$target_dir/release/examples/loadgen" --url "$url" --ca "$ca" --mode key --key "$key" \
    --rate "$rate" --seconds "$seconds"
done >"$work/results.jsonl"

mkdir -p docs/img
"$venv/bin/python" - "$work/results.jsonl" "$seconds" <<'PY'
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

runs = [json.loads(line) for line in open(sys.argv[1])]
seconds = sys.argv[2]
rates = [r["offered_rps"] for r in runs]
fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")):
    ax.plot(rates, [r[key] for r in runs], marker="o", label=label)
ax.set_xlabel("offered load (requests/s, open loop)")
ax.set_ylabel("latency from scheduled start (ms)")
ax.set_yscale("log")
ax.set_title("API-key GET /v1/balance over TLS, one instance, SQLite")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig("docs/img/latency-vs-load.png")

print("## Latency against offered load")
print()
print(f"Command: `bench/latency.sh {seconds}` (release build; `examples/loadgen.rs --rate R`:")
print("requests start on a fixed schedule whatever the server's pace, API-key")
print("`GET /v1/balance` over TLS on loopback, limits set never to refuse; latency")
print("is measured from each request's scheduled start, so queueing shows).")
print()
print("![latency against offered load](img/latency-vs-load.png)")
print()
print("| offered req/s | answered | failed | achieved req/s | p50 ms | p90 ms | p99 ms | max ms |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    achieved = r["ok"] / r["seconds"] if r["seconds"] else 0
    print(f"| {r['offered_rps']:.0f} | {r['ok']} | {r['failed']} | {achieved:.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")
print()
knee = next((r["offered_rps"] for r in runs if r["p99_ms"] > 50 or r["failed"]), None)
if knee is None:
    print(f"p99 stays under 50 ms up to {rates[-1]:.0f} req/s offered, the highest rate tried.")
else:
    print(f"p99 first exceeds 50 ms (or requests fail) at {knee:.0f} req/s offered: past that the")
    print("server queues, and latency grows with the length of the run rather than the load.")
PY
