#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/seeds/<target>/) from the project's test
vectors: testdata/request-signing.json and the examples the Rust tests use.
Run it again after changing the vectors; its output is committed."""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent
VECTORS = json.loads((ROOT.parent / "testdata" / "request-signing.json").read_text())["vectors"]


def write(target, samples):
    directory = ROOT / "seeds" / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for sample in samples:
        data = sample.encode() if isinstance(sample, str) else sample
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


write("credentials", [v["secret"] for v in VECTORS] + [
    "sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "sec_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "MCH-ZA-7Q4K9X2M",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=",
    "payments:write",
    "ev_Q2hlY2tvdXQgc2Vzc2lvbiBzZWNyZXQgZm9yIHRlc3Q",
])
# Structured targets read their fields from the raw bytes; the vectors'
# pieces laid end to end still give the fuzzer useful material.
write("signature_headers", [
    "\0".join([v["method"], v["path"], v["timestamp"], v["signature"], v["body"]]) for v in VECTORS
])
write("problem_bodies", [
    json.dumps({"type": "https://paygate.dev/errors/rate_limited", "title": "Too many requests",
                "status": 429, "code": "rate_limited", "detail": "", "request_id": "req_1"}),
    json.dumps({"type": "about:blank", "status": 422, "code": "validation_failed", "request_id": "req_2",
                "errors": [{"field": "amount", "message": "must be positive"}]}),
    "<html>502 Bad Gateway</html>",
])
write("webhook_urls", [
    "https://hooks.example.com/paygate",
    "http://127.0.0.1:8080/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:10.0.0.1]/x",
    "https://0x7f.1/",
    "https://user:pass@example.com:8443/a?b=c#d",
])
write("amounts", ["100", "-1", "1000000000000000", "1.0", "1e3", "9223372036854775808"])
bodies = [
    (0, {"amount": 1000, "currency": "USD", "method": "card",
         "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}),
    (1, {"amount": 500, "currency": "EUR", "destination": {"type": "bank", "iban": "GB82WEST12345698765432", "name": "A"}}),
    (1, {"amount": 500, "currency": "BTC", "destination": {"type": "bitcoin", "address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}}),
    (5, {"amount": 1000, "currency": "USD", "methods": ["card"]}),
    (7, {"url": "https://hooks.example.com/paygate", "events": ["*"]}),
    (9, {"name": "server", "scopes": ["payments:write"]}),
]
write("json_bodies", [bytes([which]) + json.dumps(body).encode() for which, body in bodies]
      + [bytes([which]) + json.loads(json.dumps(v["body"])).encode() for which, v in enumerate(VECTORS)])
write("destinations", [
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
])
