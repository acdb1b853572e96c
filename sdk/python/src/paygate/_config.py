"""What a client is configured with, checked before anything is sent: an
https-only base URL, credentials of the right shape (held so that no
``repr``, ``str`` or log line shows them), and object IDs that cannot change
the route a request reaches."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional, Union
from urllib.parse import urlsplit

from ._errors import PaygateConfigError

_KEY = re.compile(r"sk_(test|live)_[0-9A-Za-z]{36}")
_SECRET = re.compile(r"sec_(test|live)_[0-9A-Za-z_\-]{43}")
_MERCHANT = re.compile(r"MCH-[A-Z]{2}-[0-9A-Z]{6}")
_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")

AUTH_MODES = ("key", "token", "signed")


class Secret:
    """A credential. Its ``repr`` and ``str`` show a masked prefix only; the
    value is read with ``reveal()`` where it goes onto the wire."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        prefix = self._value.split("_", 2)
        return "_".join(prefix[:2]) + "_****" if len(prefix) == 3 else "****"

    def __repr__(self) -> str:
        return f"Secret({self.masked()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Paygate credential cannot be pickled")


@dataclass(frozen=True)
class Endpoint:
    """``https://host:port`` and an optional path prefix (no trailing slash)."""

    origin: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        try:
            url = urlsplit(text)
            port = url.port
        except ValueError:
            raise PaygateConfigError("the base URL is not a URL") from None
        if url.scheme != "https":
            raise PaygateConfigError("the base URL must be https: credentials are never sent in clear")
        if url.username is not None or url.password is not None:
            raise PaygateConfigError("the base URL must not carry user info")
        if url.query or url.fragment or "?" in text or "#" in text:
            raise PaygateConfigError("the base URL must not carry a query or fragment")
        if not url.hostname:
            raise PaygateConfigError("the base URL has no host")
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        return cls(origin=f"https://{host}:{port or 443}", prefix=url.path.rstrip("/"))


def check_key(api_key: object) -> Secret:
    if not isinstance(api_key, str) or not _KEY.fullmatch(api_key):
        raise PaygateConfigError("the API key is not a Paygate API key (sk_test_... or sk_live_...)")
    return Secret(api_key)


def check_secret(api_secret: object, api_key: Secret) -> Secret:
    if not isinstance(api_secret, str) or not _SECRET.fullmatch(api_secret):
        raise PaygateConfigError("the API secret is not a Paygate API secret (sec_...)")
    if api_secret.split("_")[1] != api_key.reveal().split("_")[1]:
        raise PaygateConfigError("the API key and secret belong to different environments")
    return Secret(api_secret)


def check_merchant(merchant_id: object) -> str:
    if not isinstance(merchant_id, str) or not _MERCHANT.fullmatch(merchant_id):
        raise PaygateConfigError("the merchant ID is not a Paygate merchant ID (MCH-CC-XXXXXX)")
    return merchant_id


def check_id(value: object) -> str:
    """An object ID checked before it goes into a path, so no argument can
    change which route a request reaches (``../``, ``?``, ``#``, ``%2F``)."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise PaygateConfigError(f"{value!r} is not a Paygate object ID")
    return value


def tls_context(ca: Union[None, str, bytes, Path]) -> ssl.SSLContext:
    """Verification always on (chain and hostname), TLS 1.2 or newer. Trusted:
    the public web's roots (certifi's bundle, as the Rust client trusts
    webpki's), plus ``ca`` (a path to a PEM file, or PEM text) when given.
    Nothing from the environment (``SSL_CERT_FILE``...) is read."""
    import certifi

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=certifi.where())
    if ca is not None:
        if isinstance(ca, bytes):
            ca = ca.decode("ascii")
        if isinstance(ca, str) and "-----BEGIN CERTIFICATE-----" in ca:
            context.load_verify_locations(cadata=ca)
        else:
            context.load_verify_locations(cafile=str(ca))
    # http/1.1 only: what every Paygate client speaks.
    context.set_alpn_protocols(["http/1.1"])
    return context


def check_auth(
    auth: str, api_secret: Optional[Secret], merchant_id: Optional[str]
) -> None:
    if auth not in AUTH_MODES:
        raise PaygateConfigError(f"auth must be one of {', '.join(AUTH_MODES)}")
    if auth == "token" and merchant_id is None:
        raise PaygateConfigError("auth='token' needs the merchant ID")
    if auth == "signed" and api_secret is None:
        raise PaygateConfigError("auth='signed' needs the API secret")
