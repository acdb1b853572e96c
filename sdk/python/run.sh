#!/usr/bin/env bash
# The Python SDK's suite: pytest against a real `paygate serve` (started by
# the tests). Installs its own virtualenv outside the clone, once per version
# of requirements.lock, and builds the server and paygate-cli with cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

want="$(sha256sum "$here/requirements.lock" | cut -c1-16)"
venv="${PAYGATE_SDK_PY_VENV:-$HOME/.cache/paygate-sdk-py-venv-$want}"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.lock"
  touch "$venv/.complete"
fi

(cd "$root" && cargo build --quiet -p paygate-server -p paygate-sdk --bin paygate --bin paygate-cli)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export PAYGATE_BIN="$target_dir/debug/paygate"
export PAYGATE_CLI_BIN="$target_dir/debug/paygate-cli"

# The wire comparison (tests/test_wire.py) drives the Node SDK too, when it
# is in the tree: its locked dev dependencies (as sdk/node/run.sh installs
# them) and a fresh build of the package.
node_sdk="$root/sdk/node"
if [ -f "$node_sdk/package.json" ]; then
  (
    cd "$node_sdk"
    [ -d node_modules ] || npm install --no-save --no-audit --no-fund --loglevel=error
    npx tsc -p tsconfig.json
  )
fi

cd "$here"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
