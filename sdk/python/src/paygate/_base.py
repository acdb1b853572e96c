"""What the sync and async clients share: the checked configuration, the
resources as attributes, and a ``repr`` that shows no credential."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn, Optional, Union

import httpx

from . import _resources as r
from ._config import Endpoint, check_auth, check_key, check_merchant, check_secret, tls_context
from ._core import Credentials, Plan
from ._retry import RetryPolicy

CA = Union[None, str, bytes, Path]


class BaseClient:
    def __init__(
        self,
        api_key: str,
        api_secret: Optional[str] = None,
        merchant_id: Optional[str] = None,
        base_url: str = "https://localhost:8443",
        ca: CA = None,
        auth: str = "key",
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: Optional[RetryPolicy] = None,
    ) -> None:
        """``auth`` is ``"key"`` (``x-api-key`` on every request), ``"token"``
        (the key is exchanged for short-lived access tokens; needs
        ``merchant_id``) or ``"signed"`` (the key, and every request signed
        with ``api_secret``). With ``api_secret`` given, every request is
        signed whichever mode is used. ``ca`` adds a trusted CA (a PEM path or
        PEM text); TLS verification itself cannot be turned off."""
        self._endpoint = Endpoint.parse(base_url)
        key = check_key(api_key)
        secret = None if api_secret is None else check_secret(api_secret, key)
        merchant = None if merchant_id is None else check_merchant(merchant_id)
        check_auth(auth, secret, merchant)
        self._credentials = Credentials(key, merchant, secret, auth)
        self._retry = retry or RetryPolicy()
        self._tls = tls_context(ca)
        self._timeout = (timeout, connect_timeout)
        self._idempotency_key: Optional[str] = None
        self._attach()
        self._open()

    def _open(self) -> None:
        """Makes the HTTP client and the token cache of the client's kind."""
        raise NotImplementedError

    def _http_options(self) -> dict[str, Any]:
        total, connect = self._timeout
        return {
            "verify": self._tls,
            "trust_env": False,  # no proxy or CA bundle from the environment
            "follow_redirects": False,  # a redirect could carry credentials elsewhere
            "timeout": httpx.Timeout(total, connect=connect),
        }

    @staticmethod
    def _strip_defaults(headers: httpx.Headers) -> None:
        """The headers every Paygate SDK sends: httpx's own user agent,
        compression offer and keep-alive header go."""
        for name in ("user-agent", "accept-encoding", "connection"):
            headers.pop(name, None)

    def _attach(self) -> None:
        for name, resource in r.RESOURCES.items():
            setattr(self, name, resource(self))

    def _plan(self, method: str, path: str, body: Optional[Any], auth: str) -> Plan:
        return Plan(
            self._endpoint, self._credentials, self._retry, method, path, body, auth, self._idempotency_key
        )

    def _with_key(self, key: str) -> Any:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._idempotency_key = key
        clone._attach()
        return clone

    @property
    def environment(self) -> str:
        """``"test"`` or ``"live"``, from the key."""
        return self._credentials.api_key.reveal().split("_")[1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._endpoint.origin + self._endpoint.prefix!r}, credentials={self._credentials!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Paygate client cannot be pickled (it holds credentials)")
