"""Webhooks as a receiver sees them: deliveries made by the real server to a
local http receiver, verified with paygate.verify_webhook in both schemes
and during a secret rotation; a tampered body, a stale timestamp, a wrong
secret and malformed headers refused."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import paygate
from paygate._webhooks import standard_signature

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.cond:
                    receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait_for(self, event_type: str, timeout: float = 20) -> tuple[dict[str, str], bytes]:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for headers, body in self.deliveries:
                    if f'"type":"{event_type}"'.encode() in body:
                        return headers, body
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no {event_type} delivery")
                self.cond.wait(left)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def refused(reason, body, headers, secrets, **kwargs):
    with pytest.raises(paygate.WebhookVerificationError) as caught:
        paygate.verify_webhook(body, headers, secrets, **kwargs)
    assert caught.value.reason == reason, caught.value
    return caught.value


def test_a_delivery_from_the_server_verifies_and_tampering_is_refused(client, receiver):
    endpoint = client.webhook_endpoints.create(url=receiver.url, events=["payment.succeeded", "payment.canceled"])
    secret = endpoint["secret"]
    payment = client.payments.create(amount=999, currency="USD", method="card", card=CARD)
    headers, body = receiver.wait_for("payment.succeeded")

    event = paygate.verify_webhook(body, headers, secret)
    assert event["type"] == "payment.succeeded"
    assert event["data"]["object"]["id"] == payment["id"]
    assert event["id"] == headers["webhook-id"]
    as_pairs = [(k.title(), v) for k, v in headers.items()]  # as a framework may hand them over
    assert paygate.verify_webhook(body.decode(), as_pairs, [secret]) == event
    # The plain scheme alone (a receiver that reads only X-Webhook-Signature).
    plain = {"x-webhook-signature": headers["x-webhook-signature"]}
    assert paygate.verify_webhook(body, plain, [secret])["id"] == event["id"]

    tampered = body.replace(b'"amount":999', b'"amount":998')
    assert tampered != body
    refused("signature", tampered, headers, [secret])
    refused("signature", tampered, plain, [secret])
    stale_now = int(headers["webhook-timestamp"]) + 301
    refused("timestamp", body, headers, [secret], now=stale_now)
    assert paygate.verify_webhook(body, headers, [secret], tolerance=400, now=stale_now)
    stranger = "whsec_" + "QUJD" * 8
    refused("signature", body, headers, [stranger])
    refused("signature", body, plain, [stranger])
    refused("missing_header", body, {}, [secret])
    refused("missing_header", body, {**headers, "webhook-id": ""}, [secret])
    refused("timestamp", body, {**headers, "webhook-timestamp": "soon"}, [secret])
    refused("malformed_header", body, {**headers, "webhook-signature": "garbage"}, [secret])
    refused("malformed_header", body, {"x-webhook-signature": "md5=abc"}, [secret])
    # Correctly signed, but for another id than the event's own.
    resigned = {**headers, "webhook-id": "evt_other"}
    key = base64.b64decode(secret[len("whsec_"):])
    resigned["webhook-signature"] = standard_signature(key, "evt_other", int(headers["webhook-timestamp"]), body)
    refused("payload", body, resigned, [secret])
    with pytest.raises(paygate.WebhookVerificationError) as bad_secret:
        paygate.verify_webhook(body, headers, ["sk_test_not_a_webhook_secret"])
    assert bad_secret.value.reason == "malformed_secret"
    client.webhook_endpoints.delete(endpoint["id"])


def test_during_a_rotation_old_and_new_secrets_verify(signed, receiver):
    client = signed
    endpoint = client.webhook_endpoints.create(url=receiver.url, events=["payment.canceled"])
    old = endpoint["secret"]
    new = client.webhook_endpoints.rotate_secret(endpoint["id"])["secret"]
    assert new != old
    open_ = client.payments.create(amount=100, currency="USD", method="card")
    client.payments.cancel(open_["id"])
    headers, body = receiver.wait_for("payment.canceled")
    # Signed with both secrets while the old one is still active.
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secrets in ([new, old], [old], [new]):
        assert paygate.verify_webhook(body, headers, secrets)["type"] == "payment.canceled"
    assert paygate.verify_webhook(body, {"X-Webhook-Signature": headers["x-webhook-signature"]}, [new])
    client.webhook_endpoints.delete(endpoint["id"])
