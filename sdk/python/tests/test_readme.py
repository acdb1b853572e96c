"""The README's quick start runs as written, against a real server, with
the values the sandbox printed in the environment (as the README exports
them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (SDK / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", [0, 1], ids=["sync", "async"])
def test_quick_start_runs_as_written(server, index):
    env = server.env(PYTHONPATH=str(SDK / "src"))
    done = subprocess.run([sys.executable, "-c", BLOCKS[index]], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if index == 0:
        lines = done.stdout.splitlines()
        assert re.fullmatch(r"pay_\w+ succeeded", lines[0]), lines
        assert re.fullmatch(r"422 insufficient_funds req_\w+", lines[-1]), lines
    else:
        assert "EUR" in done.stdout or "{" in done.stdout
