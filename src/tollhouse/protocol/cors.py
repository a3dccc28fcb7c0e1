"""Which browser origins may read which endpoint's answers (the Fetch standard's CORS
protocol, https://fetch.spec.whatwg.org/#http-cors-protocol).

Two kinds of endpoint answer other origins (:data:`ENDPOINTS`, the one table):

* **public** — discovery and the JWKS: public, credential-free documents any origin may
  read;
* **client** — ``/token``, ``/userinfo``, ``/revoke``, ``/device_authorization``,
  ``/par``: only the origins of the calling client, that is the origins of its
  registered redirect URIs plus its ``allowed_cors_origins``
  (:func:`client_origins`).

The client is known only once its request is read (``client_id`` in the body or the
Basic header, or the token's client at ``/userinfo``); a preflight carries no body, so
it is allowed for an origin some client registered (:class:`OriginIndex`), and the
actual request answers the origin only when it belongs to the identified client.

Everything else — ``/authorize``, the pages, the admin API — never answers other
origins: a cross-origin page must not read what a signed-in browser sees there.
The origin is always echoed, never ``*``, and no credentials mode is offered: the
endpoints read no cookies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from tollhouse.models import Client
from tollhouse.storage.ports import ClientStore

REQUEST_HEADERS = ("Authorization", "Content-Type", "DPoP")
"""What a browser may send: client or bearer credentials, the form, a DPoP proof."""
EXPOSED_HEADERS = ("WWW-Authenticate", "DPoP-Nonce")
"""What a browser may read beyond the CORS-safelisted headers (RFC 6750 §3, RFC 9449 §8)."""
MAX_AGE = 600
"""Seconds a browser may reuse a preflight answer."""
INDEX_TTL = 1.0
"""Seconds the origin index is reused: a new client's origins work within a second."""
DEFAULT_PORTS = {"http": 80, "https": 443}


class Audience(Enum):
    PUBLIC = "public"
    CLIENT = "client"


@dataclass(frozen=True, slots=True)
class CorsEndpoint:
    audience: Audience
    methods: tuple[str, ...]


ENDPOINTS: dict[str, CorsEndpoint] = {
    "/.well-known/openid-configuration": CorsEndpoint(Audience.PUBLIC, ("GET", "HEAD")),
    "/.well-known/oauth-authorization-server": CorsEndpoint(Audience.PUBLIC, ("GET", "HEAD")),
    "/jwks.json": CorsEndpoint(Audience.PUBLIC, ("GET", "HEAD")),
    "/token": CorsEndpoint(Audience.CLIENT, ("POST",)),
    "/userinfo": CorsEndpoint(Audience.CLIENT, ("GET", "POST")),
    "/revoke": CorsEndpoint(Audience.CLIENT, ("POST",)),
    "/device_authorization": CorsEndpoint(Audience.CLIENT, ("POST",)),
    "/par": CorsEndpoint(Audience.CLIENT, ("POST",)),
}
"""Path → who may read it from another origin, and with which methods. A path not
here answers no origin but its own."""


def origin_of(uri: str) -> str | None:
    """The serialized origin (RFC 6454 §6.1) of an http(s) URI, as a browser sends it
    in ``Origin``: lower-case scheme and host, the port only when not the default."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_origin(value: str) -> bool:
    """An ``allowed_cors_origins`` entry is an origin: scheme, host, optional port,
    nothing else (no path, query, fragment or trailing slash)."""
    return origin_of(value) == value


def client_origins(client: Client) -> frozenset[str]:
    """The origins a client's browser code runs on: its redirect URIs' (custom schemes
    of native apps have none) and its ``allowed_cors_origins``."""
    found = (origin_of(uri) for uri in (*client.redirect_uris, *client.allowed_cors_origins))
    return frozenset(origin for origin in found if origin is not None)


class OriginIndex:
    """Origin → the clients that registered it, rebuilt from the client store at most
    once per :data:`INDEX_TTL`: a preflight, which names no client, is allowed for any
    registered origin, and an actual request for the identified client's origins."""

    def __init__(
        self,
        clients: ClientStore,
        *,
        ttl: float = INDEX_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._ttl = ttl
        self._now = monotonic
        self._built_at: float | None = None
        self._by_origin: dict[str, frozenset[str]] = {}

    async def refresh(self) -> None:
        now = self._now()
        if self._built_at is not None and now - self._built_at < self._ttl:
            return
        self._by_origin = _index(await self._clients.list_clients())
        self._built_at = now

    def registered(self, origin: str) -> bool:
        return origin in self._by_origin

    def belongs_to(self, origin: str, client_id: str | None) -> bool:
        return client_id is not None and client_id in self._by_origin.get(origin, ())


def _index(clients: Iterable[Client]) -> dict[str, frozenset[str]]:
    by_origin: dict[str, set[str]] = {}
    for client in clients:
        for origin in client_origins(client):
            by_origin.setdefault(origin, set()).add(client.client_id)
    return {origin: frozenset(ids) for origin, ids in by_origin.items()}


class CorsPolicy:
    """The decisions; web/cors.py turns them into headers."""

    def __init__(self, index: OriginIndex) -> None:
        self.index = index

    async def refresh(self) -> None:
        await self.index.refresh()

    def preflight_allowed(self, endpoint: CorsEndpoint, origin: str, method: str) -> bool:
        if method not in endpoint.methods:
            return False
        return endpoint.audience is Audience.PUBLIC or self.index.registered(origin)

    def response_allowed(self, endpoint: CorsEndpoint, origin: str, client_id: str | None) -> bool:
        return endpoint.audience is Audience.PUBLIC or self.index.belongs_to(origin, client_id)
