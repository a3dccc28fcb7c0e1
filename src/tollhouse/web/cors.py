"""Step 3 of the request pipeline (web/pipeline.py): CORS headers and preflight answers,
from the decisions of protocol/cors.py.

:func:`note` notes a cross-origin request to an endpoint of the table in
``scope["state"]``; :func:`preflight` answers its preflight; :func:`response_headers`
adds the headers to whatever answers the actual request. The endpoint names the client
it identified in ``scope["state"]["client_id"]`` (:func:`identify`). A refused origin
gets no CORS headers at all, so the browser keeps the answer from the page; it never
gets an error that would tell it why.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from tollhouse.protocol.cors import (
    ENDPOINTS,
    EXPOSED_HEADERS,
    MAX_AGE,
    REQUEST_HEADERS,
    CorsEndpoint,
    CorsPolicy,
)
from tollhouse.web.parsing import header

Headers = list[tuple[bytes, bytes]]

VARY = (b"vary", b"Origin")
PREFLIGHT_VARY = (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
ALLOW_HEADERS = (b"access-control-allow-headers", ", ".join(REQUEST_HEADERS).encode())
EXPOSE_HEADERS = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())
MAX_AGE_HEADER = (b"access-control-max-age", str(MAX_AGE).encode())


class CrossOrigin:
    """A request to an endpoint of the table: the endpoint and the ``Origin`` sent."""

    __slots__ = ("endpoint", "origin")

    def __init__(self, endpoint: CorsEndpoint, origin: str | None) -> None:
        self.endpoint = endpoint
        self.origin = origin


def note(scope: Scope) -> CrossOrigin | None:
    """Note the request when its path is in the table: its answers vary by ``Origin``,
    with or without one. No await: a server-to-server call sends no ``Origin``."""
    endpoint = ENDPOINTS.get(scope["path"])
    if endpoint is None:
        return None
    cross = CrossOrigin(endpoint, header(scope, b"origin"))
    scope["state"]["cors"] = cross
    return cross


def preflight(policy: CorsPolicy, scope: Scope, cross: CrossOrigin) -> Headers | None:
    """The headers of a ``204`` answer to a preflight (an ``OPTIONS`` with
    ``Access-Control-Request-Method``); None when the request is no preflight."""
    method = header(scope, b"access-control-request-method")
    if scope["method"] != "OPTIONS" or method is None or cross.origin is None:
        return None
    endpoint = cross.endpoint
    if not policy.preflight_allowed(endpoint, cross.origin, method.strip().upper()):
        return [PREFLIGHT_VARY]
    return [
        (b"access-control-allow-origin", cross.origin.encode("latin-1")),
        (b"access-control-allow-methods", ", ".join(endpoint.methods).encode()),
        ALLOW_HEADERS,
        MAX_AGE_HEADER,
        PREFLIGHT_VARY,
    ]


def response_headers(policy: Callable[[], CorsPolicy], scope: Scope) -> Headers:
    """The CORS headers of the actual response: the origin echoed when allowed for the
    client the endpoint identified, ``Vary: Origin`` whenever the path is in the table."""
    cross: CrossOrigin | None = scope["state"].get("cors")
    if cross is None:
        return []
    origin = cross.origin
    if origin is None or scope["method"] == "OPTIONS":
        return [VARY]
    if not policy().response_allowed(cross.endpoint, origin, scope["state"].get("client_id")):
        return [VARY]
    return [(b"access-control-allow-origin", origin.encode("latin-1")), EXPOSE_HEADERS, VARY]


def identify(scope: Scope, client_id: str | None) -> None:
    """Name the client a request comes from: its origins may read the answer."""
    scope["state"]["client_id"] = client_id
