"""One method per merchant route of the API, grouped by resource as
``client.payments.create(...)``. Each method returns what the client's
``_request`` returns: the decoded JSON for ``paygate.Client``, a coroutine
of it for ``paygate.AsyncClient``; lists return a pager of the client's
kind. Request bodies and answers are typed with the models generated from
the served OpenAPI document (``_models.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, TypeVar

from ._config import check_id
from ._core import PUBLIC

T = TypeVar("T")

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    from . import _models as m
    from ._pagination import SyncPager

    class ListParams(TypedDict, total=False):
        limit: int
        sort_by: str
        order: str
        cursor: str

    class RefundListParams(ListParams, total=False):
        payment: str

    class BalanceTransactionParams(ListParams, total=False):
        from_: str
        to: str
        currency: str


class _Resource:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _get(self, path: str) -> Any:
        return self._client._request("GET", path)

    def _post(self, path: str, body: Optional[Any] = None) -> Any:
        return self._client._request("POST", path, body)

    def _delete(self, path: str) -> Any:
        return self._client._request("DELETE", path)

    def _list(self, path: str, params: Any, filters: frozenset[str] = frozenset()) -> Any:
        return self._client._pager(path, dict(params), filters)


class Payments(_Resource):
    def create(self, **params: Unpack[m.CreatePayment]) -> m.Payment:
        """``POST /v1/payments``."""
        return self._post("/v1/payments", params)

    def retrieve(self, payment_id: str) -> m.Payment:
        """``GET /v1/payments/{id}``."""
        return self._get(f"/v1/payments/{check_id(payment_id)}")

    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.Payment]:
        """``GET /v1/payments``: a pager of ``Payment``."""
        return self._list("/v1/payments", params)

    def cancel(self, payment_id: str) -> m.Payment:
        """``POST /v1/payments/{id}/cancel``."""
        return self._post(f"/v1/payments/{check_id(payment_id)}/cancel")


class CheckoutSessions(_Resource):
    def create(self, **params: Unpack[m.CreateCheckoutSession]) -> m.CreatedCheckoutSession:
        """``POST /v1/checkout/sessions``: hand ``session_token`` and
        ``session_secret`` (or ``url``) to the payor's browser, nothing else."""
        return self._post("/v1/checkout/sessions", params)

    def retrieve(self, session_id: str) -> m.CheckoutSession:
        """``GET /v1/checkout/sessions/{id}``."""
        return self._get(f"/v1/checkout/sessions/{check_id(session_id)}")


class Wallet(_Resource):
    def configure(self, **params: Unpack[m.WalletConfig]) -> m.Wallet:
        """``POST /v1/wallet/config``: the merchant's extended public key."""
        return self._post("/v1/wallet/config", params)

    def generate_address(self, **params: Unpack[m.GenerateAddress]) -> m.WalletAddress:
        """``POST /v1/wallet/generate``: the next unused deposit address."""
        return self._post("/v1/wallet/generate", params)

    def test_deposit(self, **params: Unpack[m.TestDeposit]) -> m.Deposit:
        """``POST /v1/test/deposits`` (test mode): a simulated confirmed deposit."""
        return self._post("/v1/test/deposits", params)


class Withdrawals(_Resource):
    def create(self, **params: Unpack[m.CreateWithdrawal]) -> m.Withdrawal:
        """``POST /v1/withdrawal-requests``: reserves the funds until approved or rejected."""
        return self._post("/v1/withdrawal-requests", params)

    def retrieve(self, withdrawal_id: str) -> m.Withdrawal:
        """``GET /v1/withdrawal-requests/{id}``."""
        return self._get(f"/v1/withdrawal-requests/{check_id(withdrawal_id)}")

    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.Withdrawal]:
        """``GET /v1/withdrawal-requests``: a pager of ``Withdrawal``."""
        return self._list("/v1/withdrawal-requests", params)

    def approve(self, withdrawal_id: str) -> m.Withdrawal:
        """``POST /v1/withdrawal-requests/{id}/approve`` (API secret and ``payouts:approve``)."""
        return self._post(f"/v1/withdrawal-requests/{check_id(withdrawal_id)}/approve")

    def reject(self, withdrawal_id: str) -> m.Withdrawal:
        """``POST /v1/withdrawal-requests/{id}/reject``: releases the funds."""
        return self._post(f"/v1/withdrawal-requests/{check_id(withdrawal_id)}/reject")


class WebhookEndpoints(_Resource):
    def create(self, **params: Unpack[m.CreateWebhookEndpoint]) -> m.WebhookEndpoint:
        """``POST /v1/webhook-endpoints``: the answer carries the whole secret, once."""
        return self._post("/v1/webhook-endpoints", params)

    def retrieve(self, endpoint_id: str) -> m.WebhookEndpoint:
        """``GET /v1/webhook-endpoints/{id}`` (secret masked)."""
        return self._get(f"/v1/webhook-endpoints/{check_id(endpoint_id)}")

    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.WebhookEndpoint]:
        """``GET /v1/webhook-endpoints``: a pager of ``WebhookEndpoint`` (secrets masked)."""
        return self._list("/v1/webhook-endpoints", params)

    def delete(self, endpoint_id: str) -> Any:
        """``DELETE /v1/webhook-endpoints/{id}``."""
        return self._delete(f"/v1/webhook-endpoints/{check_id(endpoint_id)}")

    def rotate_secret(self, endpoint_id: str) -> m.WebhookEndpoint:
        """``POST /v1/webhook-endpoints/{id}/secret/rotate``: the new secret,
        once; the old one keeps signing beside it for 24 h."""
        return self._post(f"/v1/webhook-endpoints/{check_id(endpoint_id)}/secret/rotate")

    def deliveries(self, endpoint_id: str, **params: Unpack[ListParams]) -> SyncPager[m.Delivery]:
        """``GET /v1/webhook-endpoints/{id}/deliveries``: a pager of ``Delivery``."""
        return self._list(f"/v1/webhook-endpoints/{check_id(endpoint_id)}/deliveries", params)


class Events(_Resource):
    def retrieve(self, event_id: str) -> m.Event:
        """``GET /v1/events/{id}``."""
        return self._get(f"/v1/events/{check_id(event_id)}")

    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.Event]:
        """``GET /v1/events``: a pager of ``Event``."""
        return self._list("/v1/events", params)

    def redeliver(self, event_id: str, endpoint: Optional[str] = None) -> m.DeliveryList:
        """``POST /v1/events/{id}/redeliver``: to one endpoint, or to every
        subscribed one; a page of the new ``Delivery`` objects."""
        body = {} if endpoint is None else {"endpoint": check_id(endpoint)}
        return self._post(f"/v1/events/{check_id(event_id)}/redeliver", body)


class ApiKeys(_Resource):
    def create(self, **params: Unpack[m.CreateApiKey]) -> m.IssuedApiKey:
        """``POST /v1/api-keys``: the only answer that carries the new key and secret."""
        return self._post("/v1/api-keys", params)

    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.ApiKeyInfo]:
        """``GET /v1/api-keys``: a pager of ``ApiKeyInfo``."""
        return self._list("/v1/api-keys", params)

    def roll(self, key_id: str, **params: Unpack[m.RollApiKey]) -> m.IssuedApiKey:
        """``POST /v1/api-keys/{id}/roll``: a new key and secret; the old key
        keeps working for ``expire_old_in`` seconds."""
        return self._post(f"/v1/api-keys/{check_id(key_id)}/roll", params)

    def revoke(self, key_id: str) -> m.ApiKeyInfo:
        """``DELETE /v1/api-keys/{id}``: revokes at once, with its sessions."""
        return self._delete(f"/v1/api-keys/{check_id(key_id)}")


class Auth(_Resource):
    def exchange_token(self) -> m.TokenResponse:
        """``POST /v1/auth/token``: a new access token and session. Clients
        made with ``auth="token"`` call this themselves."""
        from ._core import EXCHANGE

        return self._client._request("POST", "/v1/auth/token", None, EXCHANGE)

    def end_session(self, session_id: str) -> Any:
        """``DELETE /v1/auth/sessions/{id}``: ends a session and its tokens."""
        return self._delete(f"/v1/auth/sessions/{check_id(session_id)}")


class AuditEvents(_Resource):
    def list(self, **params: Unpack[ListParams]) -> SyncPager[m.AuditEvent]:
        """``GET /v1/audit-events`` (``audit:read``): a pager of ``AuditEvent``."""
        return self._list("/v1/audit-events", params)


class Security(_Resource):
    def policy(self) -> m.SecurityPolicy:
        """``GET /v1/security/policy``."""
        return self._get("/v1/security/policy")

    def update_policy(self, **params: Unpack[m.UpdateSecurityPolicy]) -> m.SecurityPolicy:
        """``PUT /v1/security/policy``: fields left out keep their value."""
        return self._client._request("PUT", "/v1/security/policy", params)

    def lockdown(self) -> m.LockdownReply:
        """``POST /v1/security/lockdown`` (``keys:manage`` and the API
        secret): stops every key, token and socket token of this merchant and
        environment at once and returns the one new key and secret, shown
        this once. This client's own key stops working with the others."""
        return self._post("/v1/security/lockdown")


class RealtimeTokens(_Resource):
    def create(self, **params: Unpack[m.CreateRealtimeToken]) -> m.RealtimeToken:
        """``POST /v1/realtime/tokens``: a single-use socket token, valid 60 s."""
        return self._post("/v1/realtime/tokens", params)


class Balance(_Resource):
    def retrieve(self) -> m.Balance:
        """``GET /v1/balance``."""
        return self._get("/v1/balance")


class Refunds(_Resource):
    """Refunds of payments, full by default or partial (``payments:write``)."""

    def create(self, **params: Unpack[m.CreateRefund]) -> m.Refund:
        """``POST /v1/refunds``."""
        return self._post("/v1/refunds", params)

    def retrieve(self, refund_id: str) -> m.Refund:
        """``GET /v1/refunds/{id}``."""
        return self._get(f"/v1/refunds/{check_id(refund_id)}")

    def list(self, **params: Unpack[RefundListParams]) -> SyncPager[m.Refund]:
        """``GET /v1/refunds``: a pager of refunds; ``payment`` keeps one payment's."""
        return self._list("/v1/refunds", params, frozenset({"payment"}))


class BalanceTransactions(_Resource):
    def list(self, **params: Unpack[BalanceTransactionParams]) -> SyncPager[m.BalanceTransaction]:
        """``GET /v1/balance-transactions``: every movement of the balance with
        its source object and the balance after it; ``from_`` and ``to`` (RFC
        3339 times or ``YYYY-MM-DD`` days, UTC) and ``currency`` filter."""
        return self._list("/v1/balance-transactions", params, frozenset({"from_", "to", "currency"}))


class LeakedKeys(_Resource):
    def report(self, key: str) -> m.LeakReceipt:
        """``POST /v1/leaked-keys``: reports a key found where it should not
        be. Sent with no credential of this client's own."""
        return self._client._request("POST", "/v1/leaked-keys", {"key": key}, PUBLIC)


class Health(_Resource):
    def live(self) -> m.Health:
        """``GET /healthz``: the process is up (no credentials)."""
        return self._client._request("GET", "/healthz", None, PUBLIC)

    def ready(self) -> m.Health:
        """``GET /readyz``: the server can reach its store (no credentials)."""
        return self._client._request("GET", "/readyz", None, PUBLIC)


# The attribute name of each resource on a client.
RESOURCES: dict[str, type[_Resource]] = {
    "payments": Payments,
    "checkout_sessions": CheckoutSessions,
    "wallet": Wallet,
    "withdrawals": Withdrawals,
    "webhook_endpoints": WebhookEndpoints,
    "events": Events,
    "api_keys": ApiKeys,
    "auth": Auth,
    "audit_events": AuditEvents,
    "security": Security,
    "realtime_tokens": RealtimeTokens,
    "balance": Balance,
    "leaked_keys": LeakedKeys,
    "refunds": Refunds,
    "balance_transactions": BalanceTransactions,
    "health": Health,
}
