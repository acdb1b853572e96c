"""``paygate.AsyncClient``: the asyncio client, on ``httpx.AsyncClient``.
Tasks that need a new access token at the same moment wait for one
exchange."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

import httpx

from ._base import BaseClient
from ._core import EXCHANGE, MERCHANT, CachedToken, connection_error, decode, token_from
from ._pagination import AsyncPager

if TYPE_CHECKING:
    from . import _async_resources as ar


class _TokenCache:
    """The current token, behind an asyncio lock held across an exchange."""

    def __init__(self) -> None:
        self._lock: Optional[asyncio.Lock] = None
        self._current: Optional[CachedToken] = None

    async def get(
        self, rejected: Optional[CachedToken], exchange: Callable[[], Awaitable[CachedToken]]
    ) -> CachedToken:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            current = self._current
            if current is not None and current is not rejected and current.fresh():
                return current
            self._current = await exchange()
            return self._current


class AsyncClient(BaseClient):
    """The asyncio twin of ``paygate.Client``: every resource method returns
    a coroutine, and lists are iterated with ``async for``."""

    payments: ar.Payments
    checkout_sessions: ar.CheckoutSessions
    wallet: ar.Wallet
    withdrawals: ar.Withdrawals
    webhook_endpoints: ar.WebhookEndpoints
    events: ar.Events
    api_keys: ar.ApiKeys
    auth: ar.Auth
    audit_events: ar.AuditEvents
    security: ar.Security
    realtime_tokens: ar.RealtimeTokens
    balance: ar.Balance
    leaked_keys: ar.LeakedKeys
    refunds: ar.Refunds
    balance_transactions: ar.BalanceTransactions
    health: ar.Health

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._http_options())
        self._strip_defaults(self._http.headers)
        self._tokens = _TokenCache()

    def with_idempotency_key(self, key: str) -> "AsyncClient":
        """A client whose state-changing requests carry this
        ``Idempotency-Key`` (as given) instead of a generated one."""
        return self._with_key(key)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _fetch_token(self) -> CachedToken:
        started = time.monotonic()
        return token_from(await self._request("POST", "/v1/auth/token", None, EXCHANGE), started)

    async def _request(self, method: str, path: str, body: Optional[Any] = None, auth: str = MERCHANT) -> Any:
        plan = self._plan(method, path, body, auth)
        rejected: Optional[CachedToken] = None
        while True:
            token = await self._tokens.get(rejected, self._fetch_token) if plan.uses_token else None
            attempt = plan.attempt(token)
            try:
                response = await self._http.request(
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
            await asyncio.sleep(decision.wait)

    def _pager(self, path: str, params: dict[str, Any], filters: frozenset[str] = frozenset()) -> AsyncPager[Any]:
        return AsyncPager(self._request, path, params, filters)
