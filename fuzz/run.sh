#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer through cargo-fuzz) for a fixed number of
# inputs each: FUZZ_RUNS (default 20000, what CI runs), or for FUZZ_SECONDS
# seconds each when set (the longer run, e.g. FUZZ_SECONDS=600). Arguments
# name targets to run (default: all). Installs cargo-fuzz on first use.
#
# cargo-fuzz wants nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. The targets are safe Rust, so they build without a
# sanitizer (-s none): libFuzzer still finds panics, arithmetic overflow
# (debug assertions are on), failed assertions and runaway memory or time.
# New inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target>
# holds the seeds made from the test vectors (fuzz/seeds.py). A crash leaves
# its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
if [ -n "${FUZZ_SECONDS:-}" ]; then
  limit=(-max_total_time="$FUZZ_SECONDS")
else
  limit=(-runs="${FUZZ_RUNS:-20000}")
fi

cargo fuzz build -s none
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== fuzz $target (${limit[*]})"
  log="$(mktemp)"
  status=0
  cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    "${limit[@]}" -max_len=4096 -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer is chatty: show its summary, or everything when it failed.
  if [ "$status" -ne 0 ]; then
    cat "$log"
    rm -f "$log"
    echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" || true
  rm -f "$log"
done
echo "== fuzzing passed (${#targets[@]} targets)"
