"""The one path every request takes, without its I/O (which the sync and
async clients each do): the credentials of the configured auth mode, a
fresh timestamp, nonce and signature for every attempt, one
``Idempotency-Key`` for every attempt of a state-changing call, and the
decision after each answer (done, renew the token, retry after a wait, or
give up)."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ._config import Endpoint, Secret
from ._errors import PaygateConnectionError, PaygateError, parse_retry_after
from ._retry import RetryPolicy
from ._signing import nonce, sign_request, timestamp_now

# Who a request is sent as.
MERCHANT = "merchant"  # the configured mode: the key, or an access token
EXCHANGE = "exchange"  # POST /v1/auth/token: the key and merchant ID
PUBLIC = "public"  # /healthz, /v1/leaked-keys: no credential at all

# Tokens are renewed this long (seconds) before they expire.
REFRESH_MARGIN = 10.0


class CachedToken:
    """An access token and its session. Its ``repr`` hides the token."""

    __slots__ = ("access_token", "session_id", "renew_at")

    def __init__(self, access_token: str, session_id: str, expires_in: float, started: float) -> None:
        self.access_token = Secret(access_token)
        self.session_id = session_id
        # Renew 10 s early; a token shorter-lived than that is renewed half-way.
        lead = expires_in - REFRESH_MARGIN if expires_in > 2 * REFRESH_MARGIN else expires_in / 2
        self.renew_at = started + lead

    def fresh(self) -> bool:
        return time.monotonic() < self.renew_at

    def __repr__(self) -> str:
        return f"CachedToken(session_id={self.session_id!r})"


@dataclass
class Credentials:
    api_key: Secret
    merchant_id: Optional[str]
    api_secret: Optional[Secret]
    auth: str

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key={self.api_key!r}, merchant_id={self.merchant_id!r}, "
            f"signed={self.api_secret is not None}, auth={self.auth!r})"
        )


@dataclass
class Attempt:
    """One attempt, ready to send."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    content: Optional[bytes] = field(repr=False)


@dataclass
class Decision:
    """What to do after an attempt: ``"done"``, ``"renew"`` the token and send
    again at once, ``"retry"`` after ``wait`` seconds, or ``"fail"``."""

    action: str
    wait: float = 0.0


class Plan:
    """Every attempt of one call."""

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Credentials,
        retry: RetryPolicy,
        method: str,
        path: str,
        body: Optional[Any],
        auth: str,
        idempotency_key: Optional[str],
    ) -> None:
        if not path.startswith("/"):
            raise ValueError("a request path starts with /")
        self.endpoint = endpoint
        self.credentials = credentials
        self.policy = retry
        self.method = method.upper()
        self.path = path
        self.auth = auth
        self.content = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        changes_state = self.method != "GET" and auth != EXCHANGE
        self.idempotency_key = (idempotency_key or str(uuid.uuid4())) if changes_state else None
        self.safe_to_repeat = self.method in ("GET", "PUT") or (
            self.method == "POST" and self.idempotency_key is not None
        )
        self.retries = 0
        self.renewed = False

    @property
    def uses_token(self) -> bool:
        return self.auth == MERCHANT and self.credentials.auth == "token"

    def attempt(self, token: Optional[CachedToken]) -> Attempt:
        """Headers and URL for the next attempt, signed afresh."""
        creds = self.credentials
        signed = self.auth != PUBLIC and creds.api_secret is not None
        target = self.endpoint.prefix + self.path
        if signed:
            target += ("&" if "?" in target else "?") + "n=" + nonce()
        headers: dict[str, str] = {}
        if self.auth == MERCHANT and token is not None:
            headers["authorization"] = "Bearer " + token.access_token.reveal()
            headers["x-session-id"] = token.session_id
        elif self.auth != PUBLIC:
            headers["x-api-key"] = creds.api_key.reveal()
            if creds.merchant_id is not None:
                headers["x-merchant-id"] = creds.merchant_id
        if signed and creds.api_secret is not None:
            timestamp = timestamp_now()
            headers["x-timestamp"] = timestamp
            headers["x-signature"] = sign_request(
                creds.api_secret.reveal(), self.method, target, self.content or b"", timestamp
            )
        if self.idempotency_key is not None:
            headers["idempotency-key"] = self.idempotency_key
        if self.content is not None:
            headers["content-type"] = "application/json"
        return Attempt(self.method, self.endpoint.origin + target, headers, self.content)

    def after_answer(self, status: int, headers: Mapping[str, str], body: bytes, token: Optional[CachedToken]) -> Decision:
        if 200 <= status < 300:
            return Decision("done")
        code = _code(body)
        if code == "token_expired" and token is not None and not self.renewed:
            # Renew once and send again: the request was refused unread.
            self.renewed = True
            return Decision("renew")
        wait = self.policy.delay(
            self.retries, self.safe_to_repeat, status, code, parse_retry_after(headers.get("retry-after"))
        )
        return self._next(wait)

    def after_failure(self, error: BaseException) -> Decision:
        if tls_refused(error):
            return Decision("fail")
        return self._next(self.policy.delay(self.retries, self.safe_to_repeat, None))

    def _next(self, wait: Optional[float]) -> Decision:
        if wait is None:
            return Decision("fail")
        self.retries += 1
        return Decision("retry", wait)


def _code(body: bytes) -> Optional[str]:
    try:
        problem = json.loads(body)
    except ValueError:
        return None
    code = problem.get("code") if isinstance(problem, dict) else None
    return code if isinstance(code, str) else None


def tls_refused(error: BaseException) -> bool:
    """Whether TLS itself refused the server (untrusted certificate, wrong
    name, expired): not worth another attempt."""
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def connection_error(error: BaseException) -> PaygateConnectionError:
    """The transport failure as raised to the caller: its kind only, since a
    library's message may quote the request."""
    refused = tls_refused(error)
    what = "TLS refused the server's certificate" if refused else f"no answer from the server ({type(error).__name__})"
    return PaygateConnectionError(what, tls_refused=refused)


def decode(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """A 2xx answer's JSON (``None`` when empty), or the error it carries."""
    if 200 <= status < 300:
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise PaygateError(status=status, code=None, detail="the answer is not JSON",
                               request_id=headers.get("x-request-id")) from None
    raise PaygateError.from_response(status, headers, body)


def token_from(answer: Any, started: float) -> CachedToken:
    return CachedToken(answer["access_token"], answer["session_id"], float(answer["expires_in"]), started)
