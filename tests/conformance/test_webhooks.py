"""Webhooks as a receiver sees them (docs/api.md section 10): real deliveries
from a real `paygate serve` to a local http.server receiver, verified by the
official Standard Webhooks and Svix libraries and by a plain HMAC; retries on
a shortened schedule; 410 disables; a SIGKILL during a retry wait loses
nothing."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import standardwebhooks
from svix.webhooks import Webhook as SvixWebhook, WebhookVerificationError

PRIVATE = {"PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}


class Receiver:
    """A local webhook receiver. `answers` is the list of statuses to give,
    in order; the last one repeats."""

    def __init__(self, answers=(200,)):
        self.answers = list(answers)
        self.requests = []
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    index = len(receiver.requests)
                    receiver.requests.append(
                        {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "at": time.time()}
                    )
                    receiver.lock.notify_all()
                status = receiver.answers[min(index, len(receiver.answers) - 1)]
                reply = b'{"ok": true}'
                self.send_response(status)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def wait_for(self, count, timeout=15):
        deadline = time.time() + timeout
        with self.lock:
            while len(self.requests) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"expected {count} deliveries, got {len(self.requests)}")
                self.lock.wait(left)
            return list(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(answers=(200,)):
        r = Receiver(answers)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def create_endpoint(server, url, events=("*",)):
    s = server.session()
    r = s.post(server.url("/v1/webhook-endpoints"), json={"url": url, "events": list(events)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["secret"].startswith("whsec_")
    return body


def emit_event(server):
    """Creates an API key, which emits `api_key.created`; returns the key id."""
    s = server.session()
    r = s.post(
        server.url("/v1/api-keys"),
        json={"name": "webhook trigger"},
        headers={"x-api-secret": server.secret},
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


def delivery_log(server, endpoint_id, until, timeout=10):
    """The endpoint's delivery log, polled until `until(log)` holds: the
    worker records an attempt just after the receiver has answered."""
    deadline = time.time() + timeout
    while True:
        log = server.session().get(server.url(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")).json()
        if until(log) or time.time() > deadline:
            return log
        time.sleep(0.1)


def verify_all_ways(secret, delivery):
    headers, body = delivery["headers"], delivery["body"]
    standardwebhooks.Webhook(secret).verify(body, headers)
    SvixWebhook(secret).verify(body, headers)


def plain_hmac(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_official_libraries_and_plain_hmac_verify_real_deliveries(server_factory, receiver_factory):
    server = server_factory(env=PRIVATE)
    receiver = receiver_factory()
    endpoint = create_endpoint(server, receiver.url)
    secret = endpoint["secret"]
    key_id = emit_event(server)
    delivery = receiver.wait_for(1)[0]

    verify_all_ways(secret, delivery)
    assert delivery["headers"]["x-webhook-signature"] == plain_hmac(secret, delivery["body"])
    event = json.loads(delivery["body"])
    assert event["type"] == "api_key.created"
    assert event["id"] == delivery["headers"]["webhook-id"]
    assert event["id"].startswith("evt_")
    assert event["env"] == "test"
    assert event["data"]["object"]["id"] == key_id
    assert abs(int(delivery["headers"]["webhook-timestamp"]) - time.time()) < 30

    # A tampered body or another secret fails the official verifiers.
    tampered = dict(delivery, body=delivery["body"].replace(b"api_key", b"api_kez"))
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(tampered["body"], tampered["headers"])
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    with pytest.raises(WebhookVerificationError):
        SvixWebhook(other).verify(delivery["body"], delivery["headers"])

    # The secret is shown once; afterwards it is masked.
    s = server.session()
    got = s.get(server.url(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert got["secret"] == "whsec_****" + secret[-4:]

    # The delivery log has the attempt.
    log = delivery_log(server, endpoint["id"], lambda log: log["data"][0]["status"] != "pending")
    assert log["data"][0]["status"] == "succeeded"
    attempt = log["data"][0]["attempts"][0]
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == '{"ok": true}'


def test_deliveries_during_rotation_verify_with_old_and_new_secret(server_factory, receiver_factory):
    server = server_factory(env=PRIVATE)
    receiver = receiver_factory()
    endpoint = create_endpoint(server, receiver.url)
    old = endpoint["secret"]
    s = server.session()

    # Rotation needs the API secret.
    refused = s.post(server.url(f"/v1/webhook-endpoints/{endpoint['id']}/secret/rotate"))
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_secret_required"
    rotated = s.post(
        server.url(f"/v1/webhook-endpoints/{endpoint['id']}/secret/rotate"),
        headers={"x-api-secret": server.secret},
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated.json()["previous_secret_expires_at"] is not None

    emit_event(server)
    delivery = receiver.wait_for(1)[0]
    assert len(delivery["headers"]["webhook-signature"].split(" ")) == 2
    verify_all_ways(old, delivery)
    verify_all_ways(new, delivery)
    plain = delivery["headers"]["x-webhook-signature"].split(" ")
    assert plain == [plain_hmac(new, delivery["body"]), plain_hmac(old, delivery["body"])]


def test_a_receiver_failing_three_times_gets_the_fourth_attempt(server_factory, receiver_factory):
    server = server_factory(env={**PRIVATE, "PAYGATE_WEBHOOKS__RETRY_SCHEDULE_SECS": "[1, 1, 1, 1, 1]"})
    receiver = receiver_factory(answers=(500, 503, 500, 200))
    endpoint = create_endpoint(server, receiver.url)
    emit_event(server)
    deliveries = receiver.wait_for(4, timeout=20)
    assert len({d["headers"]["webhook-id"] for d in deliveries}) == 1
    stamps = [int(d["headers"]["webhook-timestamp"]) for d in deliveries]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0], "each retry is signed at its own time"
    # Every attempt is signed afresh, and each one verifies.
    for d in deliveries:
        verify_all_ways(endpoint["secret"], d)
    time.sleep(2.5)
    assert len(receiver.requests) == 4, "a succeeded delivery is not retried"
    log = delivery_log(server, endpoint["id"], lambda log: log["data"][0]["status"] != "pending")
    [delivery] = log["data"]
    assert delivery["status"] == "succeeded"
    assert [a["response_status"] for a in delivery["attempts"]] == [500, 503, 500, 200]


def test_a_receiver_answering_410_gets_nothing_more(server_factory, receiver_factory):
    server = server_factory(env={**PRIVATE, "PAYGATE_WEBHOOKS__RETRY_SCHEDULE_SECS": "[1, 1]"})
    receiver = receiver_factory(answers=(410,))
    endpoint = create_endpoint(server, receiver.url)
    emit_event(server)
    receiver.wait_for(1)
    emit_event(server)
    time.sleep(3.5)
    assert len(receiver.requests) == 1
    got = server.session().get(server.url(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert got["status"] == "disabled"
    assert got["disabled_reason"] == "gone"


def restart(data_dir, env):
    """`paygate serve` again on an existing data directory."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    full_env["PAYGATE_LISTEN"] = "127.0.0.1:0"
    full_env["PAYGATE_ADMIN_LISTEN"] = "127.0.0.1:0"
    full_env.update(env)
    process = subprocess.Popen(
        [os.environ["PAYGATE_BIN"], "--json", "--data-dir", data_dir, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=full_env,
        text=True,
    )
    json.loads(process.stdout.readline())
    return process


def test_a_server_killed_during_a_retry_wait_delivers_after_restart(server_factory, receiver_factory):
    env = {**PRIVATE, "PAYGATE_WEBHOOKS__RETRY_SCHEDULE_SECS": "[4]", "PAYGATE_WEBHOOKS__RETRY_JITTER_PERCENT": "0"}
    server = server_factory(env=env)
    receiver = receiver_factory(answers=(500, 200))
    endpoint = create_endpoint(server, receiver.url)
    emit_event(server)
    first = receiver.wait_for(1)[0]
    time.sleep(0.5)  # the failed attempt is recorded with its retry time
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    time.sleep(5)
    assert len(receiver.requests) == 1, "nothing delivers while the server is down"

    again = restart(server.data_dir, env)
    try:
        second = receiver.wait_for(2, timeout=15)[1]
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=15)
    assert second["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    verify_all_ways(endpoint["secret"], second)


def test_a_delivery_ends_after_the_schedule(server_factory, receiver_factory):
    server = server_factory(env={**PRIVATE, "PAYGATE_WEBHOOKS__RETRY_SCHEDULE_SECS": "[1, 1]"})
    receiver = receiver_factory(answers=(500,))
    endpoint = create_endpoint(server, receiver.url)
    emit_event(server)
    receiver.wait_for(3, timeout=15)
    time.sleep(3.5)
    assert len(receiver.requests) == 3, "one attempt and two retries, then no more"
    log = delivery_log(server, endpoint["id"], lambda log: log["data"][0]["status"] != "pending")
    [delivery] = log["data"]
    assert delivery["status"] == "failed"
    assert delivery["next_attempt_at"] is None
    assert len(delivery["attempts"]) == 3
    # The endpoint itself stays enabled: the next event is tried afresh.
    got = server.session().get(server.url(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert got["status"] == "enabled"
