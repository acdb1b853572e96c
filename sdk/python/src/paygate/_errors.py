"""The exceptions the SDK raises: API errors decoded from problem+json,
transport failures, configuration mistakes and refused webhook deliveries.
None of them ever carries a credential."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional


class PaygateError(Exception):
    """The server answered with an error (a problem+json document).

    ``code`` is the stable error code (``"insufficient_funds"``), ``status``
    the HTTP status and ``request_id`` the id to quote to support. ``code`` is
    ``None`` only when the answer was not a problem document (e.g. a proxy's
    error page)."""

    def __init__(
        self,
        *,
        status: int,
        code: Optional[str],
        detail: str,
        request_id: Optional[str] = None,
        title: Optional[str] = None,
        errors: Optional[list[dict[str, Any]]] = None,
        retry_after: Optional[int] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.title = title
        self.errors = errors or []
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.code or 'unexpected_response'}: {self.detail}"
        return f"{text} (request {self.request_id})" if self.request_id else text

    def __repr__(self) -> str:
        return (
            f"PaygateError(status={self.status}, code={self.code!r}, "
            f"request_id={self.request_id!r})"
        )

    @classmethod
    def from_response(cls, status: int, headers: Mapping[str, str], body: bytes) -> "PaygateError":
        """Decodes an error answer; never fails, whatever the body is."""
        retry_after = parse_retry_after(headers.get("retry-after"))
        try:
            problem = json.loads(body)
        except ValueError:
            problem = None
        if isinstance(problem, dict) and isinstance(problem.get("code"), str):
            errors = problem.get("errors")
            return cls(
                status=status,
                code=problem["code"],
                detail=str(problem.get("detail") or problem.get("title") or ""),
                request_id=problem.get("request_id") or headers.get("x-request-id"),
                title=problem.get("title"),
                errors=errors if isinstance(errors, list) else None,
                retry_after=retry_after,
            )
        return cls(
            status=status,
            code=None,
            detail=body[:200].decode("utf-8", "replace"),
            request_id=headers.get("x-request-id"),
            retry_after=retry_after,
        )


class PaygateConnectionError(Exception):
    """No answer from the server: connection refused, reset, timed out, or a
    certificate TLS refused (``tls_refused``; such a server is never retried)."""

    def __init__(self, message: str, *, tls_refused: bool = False) -> None:
        self.tls_refused = tls_refused
        super().__init__(message)


class PaygateConfigError(ValueError):
    """The client was configured in a way the SDK refuses (not https, a key of
    the wrong shape, an object ID that could change the route...)."""


class WebhookVerificationError(Exception):
    """A webhook delivery that must not be acted on; answer it with a 4xx.

    ``reason`` is one of ``"missing_header"``, ``"malformed_header"``,
    ``"timestamp"`` (missing, malformed or outside the tolerance),
    ``"signature"`` (no signature matches a configured secret) and
    ``"payload"`` (the signed body is not a Paygate event, or its id is not
    the signed one)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def parse_retry_after(value: Optional[str]) -> Optional[int]:
    """Whole seconds, as the server sends them; anything else is ignored."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None
