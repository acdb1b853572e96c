#!/usr/bin/env bash
# Runs every benchmark (each bench/*.sh other than this one prints one
# Markdown section starting with `## `) and rewrites docs/benchmarks.md with
# their sections, the machine they ran on and the commit measured. A script
# that fails leaves its error in the report instead of its figures; the
# others still run. Takes a few minutes and wants a machine otherwise idle.
#
#   bench/run.sh            # every benchmark
#   bench/run.sh latency    # only the named ones (bench/latency.sh); the report
#                           # then holds only those sections
set -euo pipefail
cd "$(dirname "$0")/.."

scripts=()
if [ $# -gt 0 ]; then
  for name in "$@"; do scripts+=("bench/$name.sh"); done
else
  for script in bench/*.sh; do
    [ "$script" = bench/run.sh ] || scripts+=("$script")
  done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
for script in "${scripts[@]}"; do
  name="$(basename "$script" .sh)"
  echo "== $script" >&2
  if bash "$script" >"$work/$name.md" 2>"$work/$name.err"; then
    grep -q '^## ' "$work/$name.md" || { echo "$script printed no '## ' section" >&2; exit 1; }
  else
    { echo "## $name"; echo; echo "\`$script\` failed on this run:"; echo; echo '```text'; tail -20 "$work/$name.err"; echo '```'; } >"$work/$name.md"
  fi
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bench || echo ' (with uncommitted changes)')"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
memory="$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bench/run.sh\` (do not edit by hand: run it again). Each section"
  echo "comes from one script under \`bench/\` and names the command that produced it."
  echo "Compare ratios measured in one run: absolute numbers drift with whatever else"
  echo "the machine is doing, and the load average below says how busy it was."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| date | $started |"
  echo "| commit | $commit |"
  echo "| CPU | $(nproc) cores, $cpu |"
  echo "| memory | $memory |"
  echo "| kernel | $(uname -sr) |"
  echo "| load average (1, 5, 15 min) before and after | $load_before; $load_after |"
  echo "| command | \`bench/run.sh $*\` |"
  for script in "${scripts[@]}"; do
    echo
    cat "$work/$(basename "$script" .sh).md"
  done
} >docs/benchmarks.md
echo "docs/benchmarks.md rewritten (${#scripts[@]} benchmarks)" >&2
