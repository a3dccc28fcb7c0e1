"""Per-client-IP rate limits in front of the JSON protocol endpoints.

``/token``, ``/introspect``, ``/revoke`` and ``/register`` (with
``/register/{client_id}``) each have a token bucket per client IP
(``TOLLHOUSE_RATE_LIMIT_*``). A refused request never reaches the endpoint: it gets
HTTP 429 (RFC 6585 §4) with ``Retry-After`` and an RFC 6749 §5.2-style JSON body with
the error code ``slow_down`` — the registered OAuth code for "too fast, back off"
(RFC 8628 §3.5), which clients that know it already honour. Loopback is not exempt.

The client IP is the one ``web/proxy.py`` settled on: the TCP peer, or the
``X-Forwarded-For`` client when the peer is one of ``TOLLHOUSE_TRUSTED_PROXIES``.
Behind a proxy that is not listed there, every client shares the proxy's bucket.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tollhouse.errors import SlowDown
from tollhouse.observability import metrics
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.security.login_guard import Lockout
from tollhouse.web.rendering import json_response

log = logging.getLogger("tollhouse.security")

ENDPOINTS = {
    "/token": "token",
    "/introspect": "introspect",
    "/revoke": "revoke",
    "/register": "register",
}


def endpoint_of(path: str) -> tuple[str, str] | None:
    """The rate-limited endpoint of a path and its route template, if any."""
    if path in ENDPOINTS:
        return ENDPOINTS[path], path
    if path.startswith("/register/"):
        return "register", "/register/{client_id}"
    return None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login_attempt(request: Request, provider: Provider, username: str) -> Lockout | None:
    """Count one sign-in attempt (security/login_guard.py); a lockout to answer with 429."""
    lockout = await provider.login_guard.attempt(
        username,
        client_ip(request),
        request_id=request.scope.get("state", {}).get("request_id"),
    )
    if lockout is not None:
        metrics.rate_limited("/login")
    return lockout


async def login_succeeded(request: Request, provider: Provider, username: str) -> None:
    await provider.login_guard.succeeded(username, client_ip(request))


async def refusal(
    provider: Provider, scope: Scope, endpoint: str, template: str
) -> JsonResult | None:
    """The 429 for a request over its client IP's limit on ``endpoint``, else None."""
    client_ip = (scope.get("client") or ("unknown", 0))[0]
    decision = await provider.rate_limits.take(endpoint, client_ip)
    if decision.allowed:
        return None
    metrics.rate_limited(template)
    log.info(
        "request refused: rate limit",
        extra={
            "event": "rate_limited",
            "endpoint": endpoint,
            "client": client_ip,
            "retry_after": decision.retry_after,
            "request_id": scope.get("state", {}).get("request_id"),
        },
    )
    error = SlowDown(
        f"Too many requests to {scope['path']} from this address; "
        f"retry after {decision.retry_after} s."
    )
    return error_json(error, headers={"Retry-After": str(decision.retry_after)})


class RateLimitMiddleware:
    """Pure ASGI middleware; reads the limits from the provider built at start-up."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = endpoint_of(scope.get("path", "")) if scope["type"] == "http" else None
        if found is not None:
            refused = await refusal(self.app.state.provider, scope, *found)
            if refused is not None:
                await json_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)
