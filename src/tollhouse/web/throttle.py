"""Rate limits: per client IP in front of the JSON protocol endpoints (step 4 of the
request pipeline, web/pipeline.py), per client on ``/token``, per account at sign-in.

``/token``, ``/introspect``, ``/revoke`` and ``/register`` (with
``/register/{client_id}``) each have a token bucket per client IP
(``TOLLHOUSE_RATE_LIMIT_*``). A refused request never reaches the endpoint: it gets
HTTP 429 (RFC 6585 §4) with ``Retry-After`` and an RFC 6749 §5.2-style JSON body with
the error code ``slow_down`` — the registered OAuth code for "too fast, back off"
(RFC 8628 §3.5), which clients that know it already honour. Loopback is not exempt.

The client IP is the one ``web/proxy.py`` settled on: the TCP peer, or the
``X-Forwarded-For`` client when the peer is one of ``TOLLHOUSE_TRUSTED_PROXIES``.
Behind a proxy that is not listed there, every client shares the proxy's bucket.

``/token`` also limits each ``client_id``, in two buckets. Failed client
authentications spend ``TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT_FAILURES`` per client_id and
address (:func:`authentication_failed`; :func:`before_authentication` checks it):
guessing a secret is slowed from every address, yet wrong secrets sent from elsewhere
cannot lock the rightful client out, as a bucket every failure could drain would.
Authenticated requests spend ``TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT`` per client_id,
whatever the address (:func:`per_client`). Every refusal is :func:`refusal`: the same
429, metric and log line.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from tollhouse.errors import SlowDown
from tollhouse.observability import metrics
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.security.login_guard import Lockout

log = logging.getLogger("tollhouse.security")

ENDPOINTS = {
    "/token": "token",
    "/introspect": "introspect",
    "/revoke": "revoke",
    "/par": "token",  # a step of the same flow as /token, with the same client auth
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


async def login_unchecked(request: Request, provider: Provider, username: str) -> None:
    """The password was not checked (the server was busy): the attempt counts for nothing."""
    await provider.login_guard.unchecked(username, client_ip(request))


def address_of(scope: Scope) -> str:
    """The client IP step 1 of the pipeline settled on (web/proxy.py)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


async def refusal(
    provider: Provider,
    scope: Scope,
    limit: str,
    key: str,
    template: str,
    whom: str,
    *,
    cost: int = 1,
) -> JsonResult | None:
    """The 429 for a request over the limit ``limit`` of ``key``, else None; counted under
    the route ``template`` and logged. ``whom`` ends the sentence "Too many requests …";
    ``cost`` 0 only checks the bucket (``RateLimiter.take``)."""
    decision = await provider.rate_limits.take(limit, key, cost)
    if decision.allowed:
        return None
    metrics.rate_limited(template)
    log.info(
        "request refused: rate limit",
        extra={
            "event": "rate_limited",
            "endpoint": limit,
            "client": address_of(scope),
            "retry_after": decision.retry_after,
            "request_id": scope.get("state", {}).get("request_id"),
        },
    )
    error = SlowDown(f"Too many requests {whom}; retry after {decision.retry_after} s.")
    return error_json(error, headers={"Retry-After": str(decision.retry_after)})


def per_address(
    provider: Provider, scope: Scope, limit: str, template: str
) -> Coroutine[Any, Any, JsonResult | None]:
    """Step 4 of the pipeline: the 429 for a request over its client IP's limit on
    ``limit`` (:func:`endpoint_of` its path), else None. (The refusal's own coroutine,
    not one around it: this runs for every request to a limited path.)"""
    whom = f"to {scope['path']} from this address"
    return refusal(provider, scope, limit, address_of(scope), template, whom)


def _client_key(client_id: str) -> str:
    return client_id[:256]


async def before_authentication(
    provider: Provider, scope: Scope, client_id: str
) -> JsonResult | None:
    """The 429 for a ``/token`` request from an address whose authentications as
    ``client_id`` have failed too often, else None. Only a failure spends that bucket
    (:func:`authentication_failed`); this only looks, so a busy client's concurrent
    requests never drain it."""
    if not client_id:
        return None
    key = _failures_key(scope, client_id)
    whom = "failing to authenticate this client from this address"
    return await refusal(provider, scope, "token_client_failures", key, "/token", whom, cost=0)


async def authentication_failed(provider: Provider, scope: Scope, client_id: str) -> None:
    """Spend one from the failures bucket of ``client_id`` at this address."""
    if client_id:
        await provider.rate_limits.take("token_client_failures", _failures_key(scope, client_id))


def _failures_key(scope: Scope, client_id: str) -> str:
    return f"{_client_key(client_id)}@{address_of(scope)}"


async def per_client(provider: Provider, scope: Scope, client_id: str) -> JsonResult | None:
    """Once the client has authenticated: the 429 for a ``/token`` request over its
    client's limit, else None."""
    key = _client_key(client_id)
    return await refusal(provider, scope, "token_client", key, "/token", "for this client")
