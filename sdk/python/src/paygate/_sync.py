"""``paygate.Client``: the synchronous client, on ``httpx.Client``. Safe to
share between threads; threads that need a new access token at the same
moment wait for one exchange."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import httpx

from . import _resources as r
from ._base import BaseClient
from ._core import EXCHANGE, MERCHANT, CachedToken, connection_error, decode, token_from
from ._pagination import SyncPager


class _TokenCache:
    """The current token, behind a lock held across an exchange: that is what
    makes concurrent renewals wait for one exchange."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Optional[CachedToken] = None

    def get(self, rejected: Optional[CachedToken], exchange: Callable[[], CachedToken]) -> CachedToken:
        with self._lock:
            current = self._current
            if current is not None and current is not rejected and current.fresh():
                return current
            self._current = exchange()
            return self._current


class Client(BaseClient):
    """A Paygate API client. See ``BaseClient.__init__`` for the arguments."""

    payments: r.Payments
    checkout_sessions: r.CheckoutSessions
    wallet: r.Wallet
    withdrawals: r.Withdrawals
    webhook_endpoints: r.WebhookEndpoints
    events: r.Events
    api_keys: r.ApiKeys
    auth: r.Auth
    audit_events: r.AuditEvents
    security: r.Security
    realtime_tokens: r.RealtimeTokens
    balance: r.Balance
    leaked_keys: r.LeakedKeys
    refunds: r.Refunds
    balance_transactions: r.BalanceTransactions
    health: r.Health

    def _open(self) -> None:
        self._http = httpx.Client(**self._http_options())
        self._strip_defaults(self._http.headers)
        self._tokens = _TokenCache()

    def with_idempotency_key(self, key: str) -> "Client":
        """A client whose state-changing requests carry this
        ``Idempotency-Key`` (as given) instead of a generated one."""
        return self._with_key(key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch_token(self) -> CachedToken:
        started = time.monotonic()
        return token_from(self._request("POST", "/v1/auth/token", None, EXCHANGE), started)

    def _request(self, method: str, path: str, body: Optional[Any] = None, auth: str = MERCHANT) -> Any:
        plan = self._plan(method, path, body, auth)
        rejected: Optional[CachedToken] = None
        while True:
            token = self._tokens.get(rejected, self._fetch_token) if plan.uses_token else None
            attempt = plan.attempt(token)
            try:
                response = self._http.request(
                    attempt.method, attempt.url, headers=attempt.headers, content=attempt.content
                )
            except httpx.TransportError as error:
                decision = plan.after_failure(error)
                if decision.action == "fail":
                    raise connection_error(error) from None
            else:
                decision = plan.after_answer(response.status_code, response.headers, response.content, token)
                if decision.action in ("done", "fail"):
                    return decode(response.status_code, response.headers, response.content)
                if decision.action == "renew":
                    rejected = token
            time.sleep(decision.wait)

    def _pager(self, path: str, params: dict[str, Any], filters: frozenset[str] = frozenset()) -> SyncPager[Any]:
        return SyncPager(self._request, path, params, filters)
