"""Request signatures: ``x-signature = hex(HMAC-SHA256(secret, METHOD + PATH
+ BODY + TIMESTAMP))`` over the request target as sent (path and query),
with a fresh timestamp for every attempt (docs/authentication.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Union


def sign_request(secret: str, method: str, path: str, body: Union[bytes, str], timestamp: str) -> str:
    """The ``x-signature`` of one request. ``method`` is upper-cased, as the
    server reads it; ``path`` is the request target including its query."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = method.upper().encode("ascii") + path.encode("utf-8") + body + timestamp.encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def timestamp_now() -> str:
    """Unix seconds, as the server expects in ``x-timestamp``."""
    return str(int(time.time()))


def nonce() -> str:
    """32 random hex digits. Signed requests carry one as the query parameter
    ``n``: the signed string has no nonce, so two identical requests in one
    second would otherwise carry the same signature, and the server refuses
    the second as a replay (``signature_reused``)."""
    return secrets.token_hex(16)
