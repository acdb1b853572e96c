"""Verifying webhook deliveries, as a receiver does.

Both of Paygate's schemes are checked: the Standard Webhooks headers
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: ``v1,`` +
base64 HMAC-SHA256 of ``id.timestamp.body`` keyed with the base64-decoded
part of the ``whsec_`` secret), preferred because the timestamp they sign
bounds replays; and ``X-Webhook-Signature: sha256=<hex>`` (HMAC-SHA256 of
the body keyed with the whole secret string) when only that one is present.
Several secrets may be given, so a receiver keeps accepting while an
endpoint's secret is rotated. Comparisons are constant-time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Iterable, Mapping, Optional, Union

from ._errors import WebhookVerificationError

Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]


def _secret_key(secret: str) -> tuple[bytes, bytes]:
    """(Standard Webhooks key, plain-scheme key) of one ``whsec_`` secret."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise WebhookVerificationError("malformed_secret", "a configured secret is not a webhook secret (whsec_...)")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("malformed_secret", "a configured secret is not a webhook secret (whsec_...)") from None
    if not key:
        raise WebhookVerificationError("malformed_secret", "a configured secret is not a webhook secret (whsec_...)")
    return key, secret.encode("utf-8")


def _lower(headers: Headers) -> dict[str, str]:
    """Any mapping or list of pairs (a dict, Django's ``request.headers``,
    Flask's ``request.headers``, an ``httpx.Headers``), names compared
    case-insensitively."""
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(k).lower(): str(v) for k, v in items}


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = msg_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def plain_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _matches(header: str, prefix: str, expected: str) -> bool:
    found = False
    for candidate in header.split(" "):
        if candidate.startswith(prefix):
            found |= hmac.compare_digest(candidate.encode("utf-8"), expected.encode("utf-8"))
    return found


def verify_webhook(
    raw_body: Union[bytes, str],
    headers: Headers,
    secrets: Union[str, Iterable[str]],
    tolerance: int = 300,
    *,
    now: Optional[int] = None,
) -> dict[str, Any]:
    """Checks one delivery and returns its event (``id``, ``type``,
    ``created_at``, ``env``, ``data.object``). ``raw_body`` is the body as
    received, before any JSON parsing; ``secrets`` one ``whsec_`` secret or
    several (during a rotation); ``tolerance`` how far, in seconds,
    ``webhook-timestamp`` may be from now. Raises
    ``WebhookVerificationError`` on anything else: answer it with a 4xx and
    do not act on the delivery."""
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    keys = [_secret_key(s) for s in ([secrets] if isinstance(secrets, str) else list(secrets))]
    if not keys:
        raise WebhookVerificationError("malformed_secret", "no webhook secret was given")
    h = _lower(headers)
    signed_id: Optional[str] = None
    if "webhook-signature" in h:
        signed_id = h.get("webhook-id")
        if not signed_id:
            raise WebhookVerificationError("missing_header", "the webhook-id header is missing")
        raw_ts = h.get("webhook-timestamp", "")
        if not raw_ts.isdigit():
            raise WebhookVerificationError("timestamp", "the webhook timestamp is missing or malformed")
        timestamp = int(raw_ts)
        current = int(time.time()) if now is None else now
        if abs(current - timestamp) > tolerance:
            raise WebhookVerificationError("timestamp", "the webhook timestamp is outside the tolerance")
        if not any(c.startswith("v1,") for c in h["webhook-signature"].split(" ")):
            raise WebhookVerificationError("malformed_header", "the webhook-signature header has no v1 signature")
        ok = False
        for key, _ in keys:
            ok |= _matches(h["webhook-signature"], "v1,", standard_signature(key, signed_id, timestamp, body))
    elif "x-webhook-signature" in h:
        if not any(c.startswith("sha256=") for c in h["x-webhook-signature"].split(" ")):
            raise WebhookVerificationError("malformed_header", "the X-Webhook-Signature header is not sha256=<hex>")
        ok = False
        for _, whole in keys:
            ok |= _matches(h["x-webhook-signature"], "sha256=", plain_signature(whole, body))
    else:
        raise WebhookVerificationError("missing_header", "no webhook signature header")
    if not ok:
        raise WebhookVerificationError("signature", "no signature matches a configured secret")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("payload", "the signed body is not a Paygate event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
        raise WebhookVerificationError("payload", "the signed body is not a Paygate event")
    # The signed id and the event's own must agree (receivers dedupe on it).
    if signed_id is not None and signed_id != event["id"]:
        raise WebhookVerificationError("payload", "the signed id is not the event's id")
    return event
