"""Fixtures: a real `paygate serve` (PAYGATE_BIN) on a free loopback port
with a fresh data directory, read from its JSON banner as the conformance
suite does, and SDK clients that trust its generated certificate."""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import pytest

import paygate

# The shared server runs many tests' requests: its per-IP and per-merchant
# limits are off (the 429 test starts a server of its own with low ones).
UNLIMITED = {
    "PAYGATE_RATE_LIMITS__ENABLED": "false",
    "PAYGATE_RATE_LIMITS__TOKEN_MINUTE__LIMIT": "1000000",
    "PAYGATE_RATE_LIMITS__TOKEN_HOUR__LIMIT": "1000000",
    "PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
}


@dataclass
class Server:
    base_url: str
    port: int
    ca_path: str
    merchant_id: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    data_dir: str
    process: subprocess.Popen = field(repr=False)
    database: Optional[str] = None

    def tls(self) -> ssl.SSLContext:
        """A TLS context trusting this server's CA, for raw httpx requests."""
        return ssl.create_default_context(cafile=self.ca_path)

    def env(self, base_url=None, **extra) -> dict[str, str]:
        """An environment for a child process (a quick start, paygate-cli)
        with this server's sandbox credentials, as the README exports them."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
        env.update(
            PAYGATE_API_KEY=self.key,
            PAYGATE_API_SECRET=self.secret,
            PAYGATE_MERCHANT_ID=self.merchant_id,
            PAYGATE_BASE_URL=base_url or self.base_url,
            PAYGATE_CA_FILE=self.ca_path,
        )
        env.update(extra)
        return env

    def client(self, cls=paygate.Client, **kwargs):
        options = dict(api_key=self.key, merchant_id=self.merchant_id, base_url=self.base_url, ca=self.ca_path)
        options.update(kwargs)
        return cls(**options)


def _stores() -> tuple[dict[str, str], Optional[str]]:
    """With PAYGATE_TEST_DATABASE_URL (and PAYGATE_TEST_REDIS_URL) set, each
    server gets a fresh PostgreSQL database (and its own Redis key prefix),
    as the black-box suite does; otherwise SQLite in its data directory."""
    admin = os.environ.get("PAYGATE_TEST_DATABASE_URL")
    env: dict[str, str] = {}
    database = None
    suffix = secrets.token_hex(6)
    if admin:
        database = f"paygate_test_sdkpy_{suffix}"
        subprocess.run(["psql", admin, "-qc", f'create database "{database}"'], check=True, capture_output=True)
        env["PAYGATE_DATABASE_URL"] = admin.rsplit("/", 1)[0] + "/" + database
    redis = os.environ.get("PAYGATE_TEST_REDIS_URL")
    if redis:
        env["PAYGATE_REDIS_URL"] = redis
        env["PAYGATE_REDIS_KEY_PREFIX"] = f"paygate-sdkpy-{suffix}:"
    return env, database


def start_server(env=None) -> Server:
    binary = os.environ["PAYGATE_BIN"]
    data_dir = tempfile.mkdtemp(prefix="paygate-sdk-py-")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    full_env["PAYGATE_LISTEN"] = "127.0.0.1:0"
    full_env["PAYGATE_ADMIN_LISTEN"] = "127.0.0.1:0"
    stores, database = _stores()
    full_env.update(stores)
    full_env.update(env or {})
    process = subprocess.Popen(
        [binary, "--json", "--data-dir", data_dir, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=full_env,
        text=True,
    )
    banner = json.loads(process.stdout.readline())
    port = int(banner["listen"].rsplit(":", 1)[1])
    sandbox = banner["sandbox"]
    return Server(
        base_url=f"https://localhost:{port}",
        port=port,
        ca_path=banner["cert_path"],
        merchant_id=sandbox["merchant_id"],
        key=sandbox["key"],
        secret=sandbox["secret"],
        data_dir=data_dir,
        process=process,
        database=database,
    )


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
    if server.database:
        admin = os.environ["PAYGATE_TEST_DATABASE_URL"]
        subprocess.run(["psql", admin, "-qc", f'drop database if exists "{server.database}" with (force)'], capture_output=True)


@pytest.fixture(scope="session")
def server():
    s = start_server(UNLIMITED)
    yield s
    stop_server(s)


@pytest.fixture
def server_factory():
    started = []

    def make(env=None):
        s = start_server(env)
        started.append(s)
        return s

    yield make
    for s in started:
        stop_server(s)


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture
def signed(server):
    """A client that signs every request with the sandbox's API secret."""
    with server.client(api_secret=server.secret) as c:
        yield c


@pytest.fixture
def anyio_backend():
    return "asyncio"
