"""The shared vectors: request signatures (testdata/request-signing.json,
computed independently and read by the Rust, browser and Node suites too)
and Standard Webhooks signatures (crates/paygate-proto/tests/vectors/
standard-webhooks.json, from the Standard Webhooks reference libraries' own
tests, which the Rust and Node suites read too)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import paygate
from paygate._webhooks import standard_signature

ROOT = Path(__file__).resolve().parents[3]
SIGNING = json.loads((ROOT / "testdata" / "request-signing.json").read_text())
STANDARD = json.loads((ROOT / "crates" / "paygate-proto" / "tests" / "vectors" / "standard-webhooks.json").read_text())


@pytest.mark.parametrize("v", SIGNING["vectors"], ids=lambda v: f"{v['method']} {v['path']}")
def test_request_signing_vectors(v):
    assert paygate.sign_request(v["secret"], v["method"], v["path"], v["body"], v["timestamp"]) == v["signature"]



@pytest.mark.parametrize("v", STANDARD["vectors"], ids=lambda v: v["msg_id"])
def test_standard_webhooks_vectors_sign_and_verify(v):
    key = base64.b64decode(v["secret"][len("whsec_"):])
    assert standard_signature(key, v["msg_id"], v["timestamp"], v["payload"].encode()) == v["signature"]
    headers = {"webhook-id": v["msg_id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": v["signature"]}
    # The vectors' payloads are not Paygate events: the signature passes and
    # the event check refuses, which is the next step after the signature.
    with pytest.raises(paygate.WebhookVerificationError) as caught:
        paygate.verify_webhook(v["payload"], headers, [v["secret"]], now=v["timestamp"])
    assert caught.value.reason == "payload"


@pytest.mark.parametrize("v", STANDARD["must_fail"], ids=lambda v: v["msg_id"])
def test_standard_webhooks_vectors_that_must_fail(v):
    headers = {"webhook-id": v["msg_id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": v["signature"]}
    with pytest.raises(paygate.WebhookVerificationError) as caught:
        paygate.verify_webhook(v["payload"], headers, [v["secret"]], now=v["timestamp"])
    assert caught.value.reason == "signature"
