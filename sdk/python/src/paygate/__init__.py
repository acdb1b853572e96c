"""Paygate's Python SDK: ``paygate.Client`` and ``paygate.AsyncClient`` for
the merchant API, and ``paygate.verify_webhook`` for receivers."""

from ._async import AsyncClient
from ._errors import PaygateConfigError, PaygateConnectionError, PaygateError, WebhookVerificationError
from ._retry import RetryPolicy
from ._signing import sign_request
from ._sync import Client
from ._webhooks import verify_webhook

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "PaygateConfigError",
    "PaygateConnectionError",
    "PaygateError",
    "RetryPolicy",
    "WebhookVerificationError",
    "sign_request",
    "verify_webhook",
]
