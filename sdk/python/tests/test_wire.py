"""The wire comparison: one payment creation made by the Rust SDK
(paygate-cli), the Python SDK and, once sdk/node is in the tree, the Node
SDK, each signed with the same key and secret, recorded by a TLS proxy in
front of the real server. The server accepts all of them, and they carry the
same headers with the same values, apart from what must differ on every
request: the nonce (query parameter `n`), `x-timestamp`, `x-signature` and
`Idempotency-Key` (and the connection's own `host` and `connection`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from proxy import TlsProxy

ROOT = Path(__file__).resolve().parents[3]
NODE_SDK = ROOT / "sdk" / "node"
PAYMENT = {"amount": 1999, "currency": "EUR", "method": "card", "description": "wire comparison"}
VOLATILE = {"x-timestamp", "x-signature", "idempotency-key"}
# Hop-by-hop and addressing headers of the connection, not of the request:
# `host` names the proxy; Node's agent says `connection: keep-alive`, which
# HTTP/1.1 means anyway.
TRANSPORT = {"host", "connection", "keep-alive"}


def base_env(server, proxy):
    return server.env(proxy.base_url, PAYGATE_CONFIG_DIR=tempfile.mkdtemp(prefix="paygate-wire-"))


def with_rust(server, proxy):
    cli = os.environ["PAYGATE_CLI_BIN"]
    args = ["--amount", str(PAYMENT["amount"]), "--currency", PAYMENT["currency"], "--method", PAYMENT["method"]]
    args += ["--description", PAYMENT["description"]]
    done = subprocess.run([cli, "--json", "payments", "create", *args], env=base_env(server, proxy), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def with_python(server, proxy):
    with server.client(base_url=proxy.base_url, api_secret=server.secret) as client:
        return client.payments.create(**PAYMENT)


NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const { Paygate } = await import(process.argv[1]);
const env = process.env;
const client = new Paygate({
  apiKey: env.PAYGATE_API_KEY, apiSecret: env.PAYGATE_API_SECRET, merchantId: env.PAYGATE_MERCHANT_ID,
  baseUrl: env.PAYGATE_BASE_URL, ca: readFileSync(env.PAYGATE_CA_FILE),
});
const payment = await client.payments.create(JSON.parse(env.WIRE_PAYMENT));
process.stdout.write(JSON.stringify(payment));
"""


def with_node(server, proxy):
    entry = NODE_SDK / "dist" / "index.js"
    assert entry.is_file(), "sdk/node is not built: run sdk/node/run.sh (scripts/test.sh runs it before this suite)"
    env = base_env(server, proxy)
    env["WIRE_PAYMENT"] = json.dumps(PAYMENT)
    node = shutil.which("node")
    assert node, "node is not installed"
    done = subprocess.run(
        [node, "--input-type=module", "-e", NODE_SCRIPT, entry.as_uri()], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


SDKS = {"rust": with_rust, "python": with_python}
if (NODE_SDK / "package.json").is_file():
    SDKS["node"] = with_node


def test_the_sdks_send_the_same_request(server):
    proxy = TlsProxy(server)
    try:
        made = {}
        for name, create in SDKS.items():
            before = len(proxy.recorded)
            made[name] = create(server, proxy)
            sent = proxy.recorded[before:]
            assert len(sent) == 1, (name, sent)
            made[name] = (made[name], sent[0])
    finally:
        proxy.close()

    wires = {}
    for name, (payment, request) in made.items():
        assert request.status == 200, (name, request.status)
        assert payment["amount"] == PAYMENT["amount"] and payment["description"] == PAYMENT["description"]
        target = urlsplit(request.target)
        query = parse_qs(target.query)
        assert list(query) == ["n"] and re.fullmatch(r"[0-9a-f]{32}", query["n"][0]), (name, request.target)
        headers = dict(request.headers)
        assert len(headers) == len(request.headers), (name, "a header sent twice")
        assert abs(int(headers["x-timestamp"]) - time.time()) < 60, name
        assert re.fullmatch(r"[0-9a-f]{64}", headers["x-signature"]), name
        assert uuid.UUID(headers["idempotency-key"]).version == 4, name
        stable = {k: v for k, v in headers.items() if k not in VOLATILE | TRANSPORT}
        wires[name] = {"method": request.method, "path": target.path, "headers": stable, "body": json.loads(request.body)}

    reference = wires["rust"]
    assert reference["headers"]["x-api-key"] == server.key
    assert reference["body"] == PAYMENT
    for name, wire in wires.items():
        # No assertion rewriting here: its diff would print the key.
        if wire != reference:
            pytest.fail(f"{name} differs from the Rust SDK in: {differences(wire, reference)}")


def differences(wire, reference):
    """What differs, by name; header values only where they hold no credential."""
    out = [k for k in ("method", "path", "body") if wire[k] != reference[k]]
    for header in sorted(set(wire["headers"]) | set(reference["headers"])):
        mine, theirs = wire["headers"].get(header), reference["headers"].get(header)
        if mine != theirs:
            shown = header in ("x-api-key", "authorization")
            out.append(f"{header}: {'<differs>' if shown else repr(mine)} vs {'<differs>' if shown else repr(theirs)}")
    return out
