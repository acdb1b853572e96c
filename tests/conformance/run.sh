#!/usr/bin/env bash
# Conformance suite: Python tests that use third-party libraries as real
# clients of a real `paygate serve`. Installs its own virtualenv (once, and
# again only when requirements.txt changes) outside the clone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# One virtualenv per version of requirements.txt, so checkouts with
# different requirements never reinstall over each other.
want="$(sha256sum "$here/requirements.txt" | cut -c1-16)"
venv="${PAYGATE_VENV:-$HOME/.cache/paygate-venv-$want}"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.complete"
fi

(cd "$root" && cargo build --quiet -p paygate-server -p paygate-sdk --bin paygate --bin paygate-cli)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export PAYGATE_BIN="$target_dir/debug/paygate"
export PAYGATE_CLI_BIN="$target_dir/debug/paygate-cli"

cd "$here"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
