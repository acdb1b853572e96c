"""Refunds and balance transactions: exercised against the real server, and
their query encoding checked on its own."""

from __future__ import annotations

import pytest

import paygate
from paygate._pagination import SyncPager

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def test_balance_transaction_filters_are_encoded_as_the_contract_names_them():
    sent = []
    pager = SyncPager(lambda method, target: sent.append(target) or {"data": [], "has_more": False},
                      "/v1/balance-transactions", {"from_": "2026-01-01", "to": "2026-02-01", "currency": "EUR", "limit": 5},
                      frozenset({"from_", "to", "currency"}))
    assert list(pager) == []
    assert sent == ["/v1/balance-transactions?from=2026-01-01&to=2026-02-01&currency=EUR&limit=5"]
    with pytest.raises(TypeError):
        SyncPager(lambda *a: None, "/v1/payments", {"from_": "x"})


def test_refunds_against_the_server(signed, server):
    payment = signed.payments.create(amount=3000, currency="USD", method="card", card=CARD)
    partial = signed.refunds.create(payment=payment["id"], amount=1000)
    assert partial["amount"] == 1000
    rest = signed.refunds.create(payment=payment["id"])
    assert rest["amount"] == 2000
    with pytest.raises(paygate.PaygateError) as caught:
        signed.refunds.create(payment=payment["id"], amount=1)
    assert (caught.value.status, caught.value.code) == (422, "refund_exceeds_payment")
    assert signed.refunds.retrieve(partial["id"])["id"] == partial["id"]
    assert {r["id"] for r in signed.refunds.list(payment=payment["id"])} == {partial["id"], rest["id"]}
    moves = list(signed.balance_transactions.list(currency="USD", limit=2))
    assert all(move["currency"] == "USD" for move in moves)
    refunded = sorted(m["amount"] for m in moves if m["type"] == "refund" and m["source"] in {partial["id"], rest["id"]})
    assert refunded == [-2000, -1000]
    assert list(signed.balance_transactions.list(from_="2999-01-01")) == []
