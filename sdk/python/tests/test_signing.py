"""Signed requests: the SDK's signature is accepted by the real server, and
the same request is refused once its body, path or timestamp is tampered
with, or when it is sent a second time."""

from __future__ import annotations

import httpx
import pytest

from paygate._core import MERCHANT
from paygate._signing import sign_request


def send(server, attempt, **changes):
    parts = {"url": attempt.url, "headers": dict(attempt.headers), "content": attempt.content}
    parts.update(changes)
    with httpx.Client(verify=server.tls(), trust_env=False) as http:
        return http.request(attempt.method, parts["url"], headers=parts["headers"], content=parts["content"])


def plan(signed, body=None):
    return signed._plan("POST", "/v1/payments", body or {"amount": 100, "currency": "USD", "method": "card"}, MERCHANT)


def test_a_signed_request_is_accepted(server, signed):
    attempt = plan(signed).attempt(None)
    assert "?n=" in attempt.url and len(attempt.headers["x-signature"]) == 64
    answer = send(server, attempt)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("what", ["body", "path", "method_path", "signature"])
def test_a_tampered_request_is_refused(server, signed, what):
    attempt = plan(signed).attempt(None)
    if what == "body":
        changes = {"content": attempt.content.replace(b"100", b"900")}
    elif what == "path":
        changes = {"url": attempt.url.replace("?n=", "?n=0")}
    elif what == "method_path":
        changes = {"url": attempt.url.replace("/v1/payments", "/v1/checkout/sessions")}
    else:
        sig = attempt.headers["x-signature"]
        changes = {"headers": {**attempt.headers, "x-signature": ("0" if sig[0] != "0" else "1") + sig[1:]}}
    answer = send(server, attempt, **changes)
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "invalid_signature"


def test_a_stale_timestamp_and_a_replay_are_refused(server, signed):
    attempt = plan(signed).attempt(None)
    stale = str(int(attempt.headers["x-timestamp"]) - 600)
    target = attempt.url.split(server.base_url, 1)[1]
    headers = {
        **attempt.headers,
        "x-timestamp": stale,
        "x-signature": sign_request(server.secret, "POST", target, attempt.content, stale),
    }
    answer = send(server, attempt, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, "timestamp_out_of_range")
    assert send(server, attempt).status_code == 200
    replay = send(server, attempt)
    assert (replay.status_code, replay.json()["code"]) == (401, "signature_reused")


def test_every_attempt_is_signed_afresh(signed):
    p = plan(signed)
    first, second = p.attempt(None), p.attempt(None)
    assert first.url != second.url, "a fresh nonce per attempt"
    assert first.headers["x-signature"] != second.headers["x-signature"]
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"], "one key for every attempt of a call"
