"""Rate limits: per client IP on the paths of :data:`PER_ADDRESS` (step 4 of the
request pipeline, web/pipeline.py), per client on ``/token``, per account at sign-in,
and on the sign-in requests an address may start.

Each path of :data:`PER_ADDRESS` takes from its limit's token bucket per client IP
(``TOLLHOUSE_RATE_LIMIT_<LIMIT>``; ``off`` turns one off). A refused request never
reaches the endpoint: it gets HTTP 429 (RFC 6585 §4) with ``Retry-After``. The JSON
endpoints answer an RFC 6749 §5.2-style body with the error code ``slow_down`` — the
registered OAuth code for "too fast, back off" (RFC 8628 §3.5), which clients that know
it already honour. The browser paths (``/authorize`` and the pages) answer an HTML page
naming ``temporarily_unavailable`` (RFC 6749 §4.1.2.1), never a redirect: the flood is
unauthenticated, and its ``redirect_uri`` is the attacker's to choose. Loopback is not
exempt.

Each interaction row (a pending sign-in request, web/pages.py :func:`respond`) also
takes from the address's ``interactions`` bucket: ``TOLLHOUSE_MAX_PENDING_INTERACTIONS``
tokens refilled over ``TOLLHOUSE_INTERACTION_TTL``, the rows' lifetime, so the rows one
address keeps stay bounded whatever its request rate (:func:`new_interaction`).
The ``/device`` page has its own bucket under ``TOLLHOUSE_RATE_LIMIT_DEVICE``
(web/device.py).

The client IP is the one ``web/proxy.py`` settled on: the TCP peer, or the
``X-Forwarded-For`` client when the peer is one of ``TOLLHOUSE_TRUSTED_PROXIES``.
Behind a proxy that is not listed there, every client shares the proxy's bucket.

``/token`` also limits each ``client_id``, in two buckets. Failed client
authentications spend ``TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT_FAILURES`` per client_id and
address (:func:`authentication_failed`; :func:`before_authentication` checks it):
guessing a secret is slowed from every address, yet wrong secrets sent from elsewhere
cannot lock the rightful client out, as a bucket every failure could drain would.
Authenticated requests spend ``TOLLHOUSE_RATE_LIMIT_TOKEN_CLIENT`` per client_id,
whatever the address (:func:`per_client`). Every refusal is :func:`refusal` (or
:func:`page_refusal`): the same 429, metric and log line.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from tollhouse.errors import SlowDown
from tollhouse.observability import metrics
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.security.login_guard import Lockout
from tollhouse.security.ratelimit import Decision
from tollhouse.web.busy import busy_page

log = logging.getLogger("tollhouse.security")


@dataclass(frozen=True, slots=True)
class Limited:
    """A path limited per client IP: the limit it takes from (``TOLLHOUSE_RATE_LIMIT_``
    + the name in upper case), its route template (metrics), and whether browsers
    navigate to it (refused with a page instead of JSON)."""

    limit: str
    template: str
    page: bool = False


def _pages(*paths: str) -> dict[str, Limited]:
    return {path: Limited("pages", path, page=True) for path in paths}


PER_ADDRESS: dict[str, Limited] = {
    "/token": Limited("token", "/token"),
    "/introspect": Limited("introspect", "/introspect"),
    "/revoke": Limited("revoke", "/revoke"),
    "/register": Limited("register", "/register"),
    "/authorize": Limited("authorize", "/authorize", page=True),
    "/userinfo": Limited("userinfo", "/userinfo"),
    "/revocations": Limited("revocations", "/revocations"),
    **_pages("/login", "/consent", "/logout", "/interaction/callback"),
    "/device_authorization": Limited("device", "/device_authorization"),
}
"""Exact paths; :data:`PER_ADDRESS_PREFIXES` the paths under a prefix."""
PER_ADDRESS_PREFIXES: tuple[tuple[str, Limited], ...] = (
    ("/register/", Limited("register", "/register/{client_id}")),
)


def endpoint_of(path: str) -> Limited | None:
    """How a path is limited per client IP, if it is."""
    found = PER_ADDRESS.get(path)
    if found is not None:
        return found
    for prefix, limited in PER_ADDRESS_PREFIXES:
        if path.startswith(prefix):
            return limited
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


async def _refused(
    provider: Provider, scope: Scope, limit: str, key: str, template: str, cost: int
) -> Decision | None:
    """The refusal of a request over the limit ``limit`` of ``key``, counted under the
    route ``template`` and logged; None when it may go on."""
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
    return decision


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
    decision = await _refused(provider, scope, limit, key, template, cost)
    if decision is None:
        return None
    error = SlowDown(f"Too many requests {whom}; retry after {decision.retry_after} s.")
    return error_json(error, headers={"Retry-After": str(decision.retry_after)})


async def page_refusal(
    provider: Provider, scope: Scope, limit: str, template: str
) -> Response | None:
    """:func:`refusal` for a path browsers navigate to: the 429 as a page in the
    browser's language (module docstring: never a redirect), else None."""
    decision = await _refused(provider, scope, limit, address_of(scope), template, 1)
    if decision is None:
        return None
    return busy_page(provider, scope, decision.retry_after)


def per_address(
    provider: Provider, scope: Scope, limited: Limited
) -> Coroutine[Any, Any, JsonResult | Response | None]:
    """Step 4 of the pipeline: the 429 for a request over its client IP's limit (its
    path's :func:`endpoint_of`), else None. (The refusal's own coroutine, not one around
    it: this runs for every request to a limited path.)"""
    if limited.page:
        return page_refusal(provider, scope, limited.limit, limited.template)
    whom = f"to {scope['path']} from this address"
    return refusal(provider, scope, limited.limit, address_of(scope), limited.template, whom)


async def new_interaction(provider: Provider, scope: Scope) -> Response | None:
    """Before an interaction row is stored: the 429 page when this client IP has
    started its ``TOLLHOUSE_MAX_PENDING_INTERACTIONS`` within the interaction lifetime,
    else None (and one is counted)."""
    limited = endpoint_of(scope["path"])
    template = limited.template if limited is not None else "/authorize"
    return await page_refusal(provider, scope, "interactions", template)


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
