"""The token cache, retries and idempotency against the real server, seen
through a TLS proxy that records every request (and can lose answers)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

import paygate
from proxy import TlsProxy


@pytest.fixture
def proxy(server):
    p = TlsProxy(server)
    yield p
    p.close()


def exchanges(proxy):
    return [r for r in proxy.recorded if r.target.split("?")[0] == "/v1/auth/token"]


def test_twenty_threads_make_one_token_exchange(server, proxy):
    with server.client(base_url=proxy.base_url, auth="token") as client:
        barrier = threading.Barrier(20)
        results, errors = [], []

        def call():
            barrier.wait()
            try:
                results.append(client.balance.retrieve())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and len(results) == 20
    assert len(exchanges(proxy)) == 1
    calls = [r for r in proxy.recorded if r.target == "/v1/balance"]
    assert len(calls) == 20
    assert all(r.header("authorization").startswith("Bearer ") and r.header("x-api-key") is None for r in calls)
    assert len({r.header("x-session-id") for r in calls}) == 1


@pytest.mark.anyio
async def test_twenty_tasks_make_one_token_exchange(server, proxy):
    async with server.client(paygate.AsyncClient, base_url=proxy.base_url, auth="token") as client:
        results = await asyncio.gather(*(client.balance.retrieve() for _ in range(20)))
    assert len(results) == 20
    assert len(exchanges(proxy)) == 1
    assert len([r for r in proxy.recorded if r.target == "/v1/balance"]) == 20


def test_tokens_are_renewed_before_they_expire(server_factory):
    server = server_factory({"PAYGATE_AUTH__TOKEN_TTL_SECS": "10"})
    proxy = TlsProxy(server)
    try:
        with server.client(base_url=proxy.base_url, auth="token") as client:
            client.balance.retrieve()
            client.balance.retrieve()
            assert len(exchanges(proxy)) == 1
            # A 10 s token is renewed half-way, before the server would refuse it.
            time.sleep(5.3)
            client.balance.retrieve()
            assert len(exchanges(proxy)) == 2
    finally:
        proxy.close()


def test_a_429_is_honoured(server_factory):
    server = server_factory({"PAYGATE_RATE_LIMITS__MERCHANT__LIMIT": "2", "PAYGATE_RATE_LIMITS__MERCHANT__WINDOW_SECS": "3"})
    with server.client(retry=paygate.RetryPolicy(max_retries=0)) as impatient:
        impatient.balance.retrieve()
        impatient.balance.retrieve()
        with pytest.raises(paygate.PaygateError) as caught:
            impatient.balance.retrieve()
        assert (caught.value.status, caught.value.code) == (429, "rate_limited")
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    time.sleep(3.1)
    proxy = TlsProxy(server)
    try:
        with server.client(base_url=proxy.base_url) as client:
            client.balance.retrieve()
            client.balance.retrieve()
            started = time.monotonic()
            # Refused with Retry-After, waited for, then answered; a POST too
            # (the server refused it before it ran).
            client.payments.create(amount=100, currency="USD", method="card")
            waited = time.monotonic() - started
        sent = [r for r in proxy.recorded if r.method == "POST"]
        assert len(sent) == 2, proxy.recorded
        assert sent[0].header("idempotency-key") == sent[1].header("idempotency-key")
        assert waited >= 1.0
    finally:
        proxy.close()


@pytest.mark.parametrize("secret", [False, True], ids=["key", "signed"])
def test_a_lost_answer_to_a_post_is_retried_into_one_object(server, secret):
    first = []

    def lose_first_payment(record):
        if record.method == "POST" and record.target.split("?")[0] == "/v1/payments" and not first:
            first.append(record)
            return True
        return False

    proxy = TlsProxy(server, drop=lose_first_payment)
    description = f"lost answer {secret}"
    try:
        extra = {"api_secret": server.secret} if secret else {}
        with server.client(base_url=proxy.base_url, **extra) as client:
            payment = client.payments.create(amount=1234, currency="USD", method="card", description=description)
    finally:
        proxy.close()
    posts = [r for r in proxy.recorded if r.method == "POST"]
    assert proxy.dropped == 1 and len(posts) == 2
    assert posts[0].header("idempotency-key") == posts[1].header("idempotency-key")
    with server.client() as direct:
        made = [p for p in direct.payments.list(limit=100) if p.get("description") == description]
    assert [p["id"] for p in made] == [payment["id"]]


def test_a_lost_answer_to_a_delete_is_not_retried(server):
    with server.client() as direct:
        endpoint = direct.webhook_endpoints.create(url="https://example.com/gone", events=["*"])
    proxy = TlsProxy(server, drop=lambda r: r.method == "DELETE")
    try:
        with server.client(base_url=proxy.base_url) as client:
            with pytest.raises(paygate.PaygateConnectionError) as caught:
                client.webhook_endpoints.delete(endpoint["id"])
    finally:
        proxy.close()
    assert not caught.value.tls_refused
    assert len([r for r in proxy.recorded if r.method == "DELETE"]) == 1


def test_get_carries_no_idempotency_key_and_every_post_one(server, proxy):
    with server.client(base_url=proxy.base_url) as client:
        client.balance.retrieve()
        client.checkout_sessions.create(amount=100, currency="USD")
        client.security.update_policy()
    by_method = {r.method: r for r in proxy.recorded}
    assert by_method["GET"].header("idempotency-key") is None
    assert len(by_method["POST"].header("idempotency-key")) == 36
    assert by_method["PUT"].header("idempotency-key") is not None


@pytest.mark.anyio
async def test_the_async_client_retries_a_lost_answer_into_one_object(server):
    first = []

    def lose_first(record):
        if record.method == "POST" and not first:
            first.append(record)
            return True
        return False

    proxy = TlsProxy(server, drop=lose_first)
    try:
        async with server.client(paygate.AsyncClient, base_url=proxy.base_url, api_secret=server.secret) as client:
            payment = await client.payments.create(amount=4321, currency="EUR", method="card", description="async lost")
    finally:
        proxy.close()
    posts = [r for r in proxy.recorded if r.method == "POST"]
    assert len(posts) == 2 and posts[0].header("idempotency-key") == posts[1].header("idempotency-key")
    assert posts[0].header("x-signature") != posts[1].header("x-signature"), "each attempt signed afresh"
    with server.client() as direct:
        made = [p for p in direct.payments.list(limit=100) if p.get("description") == "async lost"]
    assert [p["id"] for p in made] == [payment["id"]]


def test_a_token_the_server_calls_expired_is_renewed_once_and_the_call_succeeds(server_factory):
    server = server_factory({"PAYGATE_AUTH__TOKEN_TTL_SECS": "10"})
    proxy = TlsProxy(server)
    try:
        with server.client(base_url=proxy.base_url, auth="token") as client:
            client.balance.retrieve()
            # Keep the cached token past its expiry (10 s, and the server's 5 s leeway).
            client._tokens._current.renew_at = float("inf")
            time.sleep(16)
            assert "balances" in client.balance.retrieve()
    finally:
        proxy.close()
    balance = [r for r in proxy.recorded if r.target == "/v1/balance"]
    assert [r.status for r in balance] == [200, 401, 200]
    assert json.loads(balance[1].reply)["code"] == "token_expired"
    assert len(exchanges(proxy)) == 2
    assert balance[1].header("authorization") != balance[2].header("authorization")
