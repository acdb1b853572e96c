"""The README's quick start runs as written, against a real server, with
the values the sandbox printed in the environment (as the README exports
them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (SDK / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", [0, 1], ids=["sync", "async"])
def test_quick_start_runs_as_written(server, index):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    env.update(
        PAYGATE_API_KEY=server.key,
        PAYGATE_API_SECRET=server.secret,
        PAYGATE_MERCHANT_ID=server.merchant_id,
        PAYGATE_BASE_URL=server.base_url,
        PAYGATE_CA_FILE=server.ca_path,
        PYTHONPATH=str(SDK / "src"),
    )
    done = subprocess.run([sys.executable, "-c", BLOCKS[index]], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if index == 0:
        lines = done.stdout.splitlines()
        assert re.fullmatch(r"pay_\w+ succeeded", lines[0]), lines
        assert re.fullmatch(r"422 insufficient_funds req_\w+", lines[-1]), lines
    else:
        assert "EUR" in done.stdout or "{" in done.stdout
