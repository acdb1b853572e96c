"""Merchant code as a type checker sees it: tests/test_typing.py runs mypy
--strict over this file, so a wrong annotation of either client fails."""

from __future__ import annotations

import paygate
from paygate import types as m
from paygate import types as t


def sync_usage(client: paygate.Client) -> list[str]:
    payment: m.Payment = client.payments.create(amount=100, currency="EUR", method="card")
    again: m.Payment = client.payments.retrieve(payment["id"])
    events: list[t.Event] = list(client.events.list(limit=10))
    page: dict[str, object] = client.withdrawals.list().first_page()
    balance: m.Balance = client.balance.retrieve()
    refund: m.Refund = client.refunds.create(payment=payment["id"], amount=50)
    moves: list[m.BalanceTransaction] = list(client.balance_transactions.list(currency="EUR"))
    refunds = [r["id"] for r in client.refunds.list(payment=payment["id"])]
    return [again["status"], *(e["type"] for e in events), str(page), str(balance["balances"]), refund["status"],
            *(str(x["amount"]) for x in moves), *refunds]


async def async_usage(client: paygate.AsyncClient) -> list[str]:
    payment: m.Payment = await client.payments.create(amount=100, currency="EUR", method="card")
    ids = [p["id"] async for p in client.payments.list(limit=5)]
    endpoint: m.WebhookEndpoint = await client.webhook_endpoints.rotate_secret("we_1")
    return [payment["status"], *ids, endpoint["id"]]


def webhook(body: bytes, headers: dict[str, str]) -> str:
    event = paygate.verify_webhook(body, headers, ["whsec_x"], tolerance=300)
    return str(event["type"])
