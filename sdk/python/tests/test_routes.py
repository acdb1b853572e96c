"""Every merchant route through paygate.Client against the real server, and
the main ones again through paygate.AsyncClient, so the SDK and the
server's answers cannot drift apart unnoticed."""

from __future__ import annotations

import pytest

import paygate

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
BANK = {"type": "bank", "iban": "DE89370400440532013000", "name": "Ada Lovelace"}
MAINNET_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"


def api_error(call, *args, **kwargs) -> paygate.PaygateError:
    with pytest.raises(paygate.PaygateError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_health_payments_wallet_withdrawals_checkout(server_factory):
    server = server_factory()
    with server.client(api_secret=server.secret) as client:
        assert client.health.live()["status"] == "ok"
        assert client.health.ready()["status"] == "ready"

        paid = client.payments.create(amount=5000, currency="USD", method="card", description="routes", card=CARD)
        assert paid["status"] == "succeeded"
        assert client.payments.retrieve(paid["id"]) == paid
        open_ = client.payments.create(amount=700, currency="USD", method="card")
        assert client.payments.cancel(open_["id"])["status"] == "canceled"
        pages = list(client.payments.list(limit=1, order="asc").pages())
        assert len(pages) == 2 and all(len(p["data"]) == 1 for p in pages)
        assert sorted(p["id"] for p in client.payments.list(limit=1)) == sorted([paid["id"], open_["id"]])
        assert client.balance.retrieve()["balances"]["USD"]["available"] == 5000

        wrong = api_error(client.wallet.configure, network="bitcoin", xpub=MAINNET_ZPUB)
        assert (wrong.status, wrong.code) == (400, "validation_failed")
        assert wrong.errors and wrong.errors[0]["field"] == "xpub"
        address = client.wallet.generate_address(network="bitcoin")
        deposit = client.wallet.test_deposit(address=address["address"], amount=10_000)
        assert deposit["address"] == address["address"]

        first = client.withdrawals.create(amount=1000, currency="USD", destination=BANK)
        second = client.withdrawals.create(amount=500, currency="USD", destination=BANK)
        assert client.withdrawals.retrieve(first["id"])["status"] == "pending_approval"
        assert client.withdrawals.approve(first["id"])["status"] != "pending_approval"
        assert client.withdrawals.reject(second["id"])["status"] == "rejected"
        again = api_error(client.withdrawals.reject, second["id"])
        assert (again.status, again.code) == (409, "invalid_state")
        assert again.request_id and again.request_id.startswith("req_")
        assert len(client.withdrawals.list().first_page()["data"]) == 2
        too_much = api_error(client.withdrawals.create, amount=10_000_000, currency="USD", destination=BANK)
        assert too_much.code == "insufficient_funds"

        checkout = client.checkout_sessions.create(amount=1200, currency="EUR")
        assert checkout["session_token"].startswith("cst_")
        assert client.checkout_sessions.retrieve(checkout["id"])["status"] == "open"
        token = client.realtime_tokens.create()
        assert token["ws_token"] and "ws_token" not in repr(client)

        with pytest.raises(paygate.PaygateConfigError):
            client.payments.retrieve("../balance")


def test_keys_policy_sessions_webhooks_events_audit_leaks(server_factory):
    server = server_factory()
    with server.client(api_secret=server.secret) as client, server.client() as unsigned:
        issued = client.api_keys.create(name="ci", scopes=["payments:read"])
        assert any(k["id"] == issued["id"] for k in client.api_keys.list())
        rolled = client.api_keys.roll(issued["id"], expire_old_in=0)
        with server.client(api_key=rolled["key"], merchant_id=None) as narrow:
            narrow.balance.retrieve()
            assert api_error(narrow.payments.create, amount=100, currency="USD", method="card").code == "insufficient_scope"
            client.api_keys.revoke(rolled["id"])
            assert api_error(narrow.balance.retrieve).code == "invalid_api_key"
        assert client.leaked_keys.report(rolled["key"])["received"] is True
        assert api_error(unsigned.api_keys.create, name="x").code == "api_secret_required"

        policy = client.security.update_policy(require_signature=True)
        assert policy["require_signature"] is True
        assert client.security.policy() == policy
        assert api_error(unsigned.balance.retrieve).code == "signature_required"

        with server.client(api_secret=server.secret, auth="token") as tokens:
            session = tokens.auth.exchange_token()
            assert "access_token" in session
            tokens.auth.end_session(session["session_id"])

        endpoint = client.webhook_endpoints.create(url="https://example.com/hook", events=["payment.succeeded"])
        assert endpoint["secret"].startswith("whsec_") and "*" not in endpoint["secret"]
        assert "****" in client.webhook_endpoints.retrieve(endpoint["id"])["secret"]
        rotated = client.webhook_endpoints.rotate_secret(endpoint["id"])
        assert rotated["secret"] != endpoint["secret"]
        assert len(list(client.webhook_endpoints.list())) == 1
        client.payments.create(amount=300, currency="USD", method="card", card=CARD)
        succeeded = next(e for e in client.events.list() if e["type"] == "payment.succeeded")
        assert client.events.retrieve(succeeded["id"]) == succeeded
        assert "data" in client.events.redeliver(succeeded["id"])
        assert isinstance(client.webhook_endpoints.deliveries(endpoint["id"]).first_page()["data"], list)
        client.webhook_endpoints.delete(endpoint["id"])
        assert api_error(client.webhook_endpoints.retrieve, endpoint["id"]).status == 404

        audit = list(client.audit_events.list(limit=100))
        assert any(row["action"] == "session.created" for row in audit)


def test_lockdown_stops_the_key_and_hands_back_one_that_works(server_factory):
    server = server_factory()
    with server.client(api_secret=server.secret) as client, server.client() as unsigned:
        assert api_error(unsigned.security.lockdown).code == "api_secret_required"
        reply = client.security.lockdown()
        assert reply["object"] == "lockdown" and reply["revoked_keys"] >= 1
        assert api_error(client.balance.retrieve).code == "invalid_api_key"
        new = reply["new_key"]
        with server.client(api_key=new["key"], api_secret=new["secret"]) as fresh:
            fresh.balance.retrieve()


@pytest.mark.anyio
async def test_async_client_covers_the_same_routes(server):
    async with server.client(paygate.AsyncClient, api_secret=server.secret) as client:
        assert (await client.health.live())["status"] == "ok"
        paid = await client.payments.create(amount=2500, currency="EUR", method="card", card=CARD)
        assert (await client.payments.retrieve(paid["id"]))["id"] == paid["id"]
        open_ = await client.payments.create(amount=100, currency="EUR", method="card")
        assert (await client.payments.cancel(open_["id"]))["status"] == "canceled"
        seen = [p["id"] async for p in client.payments.list(limit=1)]
        assert {paid["id"], open_["id"]} <= set(seen)
        pages = [page async for page in client.payments.list(limit=1).pages()]
        assert len(pages) == len(seen) and pages[-1]["has_more"] is False
        assert (await client.payments.list(limit=1).first_page())["has_more"] is True
        assert "balances" in await client.balance.retrieve()
        withdrawal = await client.withdrawals.create(amount=100, currency="EUR", destination=BANK)
        assert (await client.withdrawals.reject(withdrawal["id"]))["status"] == "rejected"
        endpoint = await client.webhook_endpoints.create(url="https://example.com/a", events=["*"])
        await client.webhook_endpoints.rotate_secret(endpoint["id"])
        await client.webhook_endpoints.delete(endpoint["id"])
        assert [e async for e in client.events.list(limit=100)]
        assert "require_signature" in await client.security.policy()
        with pytest.raises(paygate.PaygateError) as caught:
            await client.withdrawals.retrieve("wd_missing")
        assert caught.value.status == 404 and caught.value.code == "not_found"
