"""The package is typed: mypy --strict passes over it and over merchant
code using both clients (tests/typing_sample.py), and the async client's
stub is what tools/async_stubs.py generates from the resources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SDK = Path(__file__).resolve().parents[1]


def test_async_stub_is_current():
    done = subprocess.run([sys.executable, str(SDK / "tools" / "async_stubs.py"), "--check"])
    assert done.returncode == 0, "src/paygate/_async_resources.pyi is stale: run python tools/async_stubs.py"


def test_mypy_strict_passes():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-warn-return-any", "--cache-dir=/dev/null",
         "src/paygate", "tests/typing_sample.py"],
        cwd=SDK, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
