"""`paygate-cli listen` forwards the merchant's events from the realtime
socket to a local endpoint, signed with the secret it prints at start. The
official Standard Webhooks library verifies the forwarded delivery unchanged,
and so does the SDK's verifier (through `paygate-cli verify-webhook`)."""

import json
import os
import queue
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import standardwebhooks


def receiver():
    deliveries = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            deliveries.put((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, deliveries


def test_listen_forwards_a_payment_succeeded_that_standardwebhooks_verifies(server, tmp_path):
    cli = os.environ["PAYGATE_CLI_BIN"]
    env = {
        "PATH": os.environ["PATH"],
        "PAYGATE_CONFIG_DIR": str(tmp_path),
        "PAYGATE_BASE_URL": server.base_url,
        "PAYGATE_API_KEY": server.key,
        "PAYGATE_CA_FILE": server.ca_path,
    }
    httpd, deliveries = receiver()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    listen = subprocess.Popen(
        [cli, "--json", "listen", "--forward-to", url, "--events", "payment.succeeded"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        ready = json.loads(listen.stdout.readline())
        secret = ready["secret"]
        assert secret.startswith("whsec_")
        triggered = subprocess.run(
            [cli, "--json", "trigger", "payment.succeeded"], env=env, check=True, capture_output=True, text=True
        )
        payment = json.loads(triggered.stdout)["payment"]
        headers, body = deliveries.get(timeout=15)
    finally:
        listen.terminate()
        listen.wait(timeout=10)
        httpd.shutdown()

    event = standardwebhooks.Webhook(secret).verify(body, headers)
    assert event["type"] == "payment.succeeded"
    assert event["data"]["object"]["id"] == payment["id"]
    assert event["data"]["object"]["status"] == "succeeded"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body + b" ", headers)

    signature_headers = [
        f"--header={name}: {value}"
        for name, value in headers.items()
        if name.lower() in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    sdk_env = dict(env, PAYGATE_WEBHOOK_SECRET=secret)
    verified = subprocess.run(
        [cli, "--json", "verify-webhook", *signature_headers], input=body, capture_output=True, env=sdk_env
    )
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["id"] == event["id"]
    refused = subprocess.run(
        [cli, "verify-webhook", *signature_headers], input=body + b" ", capture_output=True, env=sdk_env
    )
    assert refused.returncode == 1
