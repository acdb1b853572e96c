"""Fixtures: a real `paygate serve` on a free loopback port with a fresh data
directory, and HTTPS clients that trust its generated certificate."""

import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field

import pytest
import requests


@dataclass
class Server:
    base_url: str
    ca_path: str
    merchant_id: str
    key: str
    secret: str
    data_dir: str
    process: subprocess.Popen = field(repr=False)

    def session(self, key=None):
        """A requests session that trusts the server and sends an API key."""
        s = requests.Session()
        # Otherwise REQUESTS_CA_BUNDLE from the environment overrides `verify`.
        s.trust_env = False
        s.verify = self.ca_path
        s.headers["x-api-key"] = key or self.key
        return s

    def url(self, path):
        return self.base_url + path


def start_server(env=None):
    binary = os.environ["PAYGATE_BIN"]
    data_dir = tempfile.mkdtemp(prefix="paygate-conformance-")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    full_env["PAYGATE_LISTEN"] = "127.0.0.1:0"
    full_env["PAYGATE_ADMIN_LISTEN"] = "127.0.0.1:0"
    full_env.update(env or {})
    process = subprocess.Popen(
        [binary, "--json", "--data-dir", data_dir, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=full_env,
        text=True,
    )
    banner = json.loads(process.stdout.readline())
    port = banner["listen"].rsplit(":", 1)[1]
    sandbox = banner["sandbox"]
    return Server(
        base_url=f"https://localhost:{port}",
        ca_path=banner["cert_path"],
        merchant_id=sandbox["merchant_id"],
        key=sandbox["key"],
        secret=sandbox["secret"],
        data_dir=data_dir,
        process=process,
    )


def stop_server(server):
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def server():
    s = start_server()
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
