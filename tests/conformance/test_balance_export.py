"""Refunds and the balance-transaction CSV export, read by a third-party
parser: Python's `csv` module reads the export, whose rows equal the JSON
list's and whose last balance equals `GET /v1/balance`."""

import csv
import io


def card(amount, currency):
    return {
        "amount": amount,
        "currency": currency,
        "method": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
    }


def test_the_csv_export_parses_and_ends_at_the_balance(server):
    s = server.session()
    payments = []
    for amount in (12_345, 600, 7_000):
        r = s.post(server.url("/v1/payments"), json=card(amount, "EUR"))
        assert r.status_code == 200, r.text
        payments.append(r.json())
    r = s.post(server.url("/v1/refunds"), json={"payment": payments[0]["id"], "amount": 2_345, "reason": "a, \"quoted\" reason"})
    assert r.status_code == 200, r.text
    refund = r.json()
    assert refund["id"].startswith("re_") and refund["status"] == "succeeded"
    r = s.post(server.url("/v1/refunds"), json={"payment": payments[0]["id"], "amount": 10_001})
    assert (r.status_code, r.json()["code"]) == (422, "refund_exceeds_payment")

    export = s.get(server.url("/v1/balance-transactions?currency=EUR"), headers={"accept": "text/csv"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "\r\n" in export.text
    rows = list(csv.DictReader(io.StringIO(export.text, newline="")))
    assert [r["type"] for r in rows] == ["payment", "payment", "payment", "refund"]
    assert [int(r["amount"]) for r in rows] == [12_345, 600, 7_000, -2_345]
    assert rows[-1]["source"] == refund["id"]
    balance = s.get(server.url("/v1/balance")).json()["balances"]["EUR"]["available"]
    assert int(rows[-1]["balance_after"]) == balance == 17_600

    listed = s.get(server.url("/v1/balance-transactions?currency=EUR&order=asc&limit=100")).json()["data"]
    assert [r["id"] for r in rows] == [t["id"] for t in listed]
    assert [int(r["balance_after"]) for r in rows] == [t["balance_after"] for t in listed]
