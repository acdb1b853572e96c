"""Safe by default: https-only base URLs, TLS verification that cannot be
turned off, credentials checked and never shown (repr, errors, logs),
object IDs that cannot change the route, problem+json decoded."""

from __future__ import annotations

import logging
import pickle

import pytest

import paygate


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8443",
        "https://user:pw@localhost:8443",
        "https://localhost:8443/?x=1",
        "https://localhost:8443/#f",
        "ftp://localhost",
        "not a url",
    ],
)
def test_only_plain_https_base_urls(server, url):
    with pytest.raises(paygate.PaygateConfigError):
        paygate.Client(api_key=server.key, base_url=url, ca=server.ca_path)


def test_credentials_are_checked_before_anything_is_sent(server):
    with pytest.raises(paygate.PaygateConfigError):
        paygate.Client(api_key="sk_test_short", base_url=server.base_url)
    live_secret = "sec_live_" + server.secret.split("_", 2)[2]
    with pytest.raises(paygate.PaygateConfigError, match="different environments"):
        paygate.Client(api_key=server.key, api_secret=live_secret, base_url=server.base_url)
    with pytest.raises(paygate.PaygateConfigError, match="merchant ID"):
        paygate.Client(api_key=server.key, base_url=server.base_url, auth="token")
    with pytest.raises(paygate.PaygateConfigError, match="secret"):
        paygate.Client(api_key=server.key, base_url=server.base_url, auth="signed")
    with pytest.raises(TypeError):
        paygate.Client(api_key=server.key, base_url=server.base_url, verify=False)  # type: ignore[call-arg]


def test_tls_verification_is_always_on(server, monkeypatch):
    # Without the sandbox's CA the server's certificate is refused, at once
    # and without retries; the environment cannot add a CA either.
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    with paygate.Client(api_key=server.key, base_url=server.base_url) as client:
        with pytest.raises(paygate.PaygateConnectionError) as caught:
            client.balance.retrieve()
    assert caught.value.tls_refused
    # 127.0.0.1 is in the certificate too, and verified as such.
    with paygate.Client(api_key=server.key, base_url=f"https://127.0.0.1:{server.port}", ca=server.ca_path) as client:
        assert "balances" in client.balance.retrieve()
    with open(server.ca_path) as pem:
        with paygate.Client(api_key=server.key, base_url=server.base_url, ca=pem.read()) as client:
            assert "balances" in client.balance.retrieve()


def test_no_credential_in_repr_errors_or_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = server.client(api_secret=server.secret, auth="token")
    shown = [repr(client), str(client), repr(client._credentials), repr(client.payments)]
    client.balance.retrieve()
    token = client._tokens._current
    assert token is not None
    shown.append(repr(token))
    with pytest.raises(paygate.PaygateError) as caught:
        client.payments.retrieve("pay_missing")
    shown += [str(caught.value), repr(caught.value)]
    with pytest.raises(TypeError):
        pickle.dumps(client)
    client.close()
    bad = paygate.Client(api_key=server.key[:-1] + ("A" if server.key[-1] != "A" else "B"), base_url=server.base_url, ca=server.ca_path)
    with pytest.raises(paygate.PaygateError) as refused:
        bad.balance.retrieve()
    assert refused.value.code == "invalid_api_key"
    shown += [str(refused.value), repr(bad)]
    text = "\n".join(shown) + "\n" + caplog.text
    for secret in (server.key, server.secret, token.access_token.reveal(), bad._credentials.api_key.reveal()):
        assert secret not in text
    assert "sk_test_****" in repr(client)


def test_problem_json_is_decoded_into_a_typed_error(client):
    with pytest.raises(paygate.PaygateError) as caught:
        client.payments.create(amount=-5, currency="USD", method="card")
    error = caught.value
    assert (error.status, error.code) == (400, "validation_failed")
    assert error.request_id.startswith("req_")
    assert error.errors and error.errors[0]["field"] == "amount"
    assert error.request_id in str(error)


def test_ids_cannot_change_the_route(client):
    for bad in ["", "../balance", "pay_1?x=1", "pay_1#", "a/b", "pay 1", "pay_%2F"]:
        with pytest.raises(paygate.PaygateConfigError):
            client.payments.retrieve(bad)


def test_an_own_idempotency_key_makes_a_repeated_call_act_once(client):
    once = client.with_idempotency_key("order-py-1")
    first = once.payments.create(amount=4200, currency="USD", method="card", description="order 1")
    second = once.payments.create(amount=4200, currency="USD", method="card", description="order 1")
    assert first == second
    reused = pytest.raises(paygate.PaygateError, once.payments.create, amount=1, currency="USD", method="card")
    assert reused.value.code == "idempotency_key_reused"
