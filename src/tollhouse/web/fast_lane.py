"""Raw ASGI handlers for the machine-to-machine endpoints: ``/token``, ``/introspect``,
``/revoke`` (POST) and ``/jwks.json``, discovery (GET).

They carry nearly all of an identity provider's traffic. Starlette's router, its two
exception middlewares and its ``Request``/``Response`` objects cost about a third of the
CPU of a whole ``client_credentials`` grant (py-spy, bench/RESULTS.md), so these
endpoints read the body and write the response themselves; every other request, and
other methods on these paths (``405``, ``HEAD``), go on to Starlette. The rules are the
same ones: ``web/parsing.py`` reads the form, ``web/rendering.py`` renders the JSON.

The layers every other request passes (client IP, request id and security headers,
metrics and access log, per-IP rate limits) are not passed here but called, in the
same order, from one coroutine: as ASGI layers with their ``send`` wrappers they were
a third of an introspection's CPU in process (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from tollhouse.errors import InvalidClient, OAuthError, SlowDown
from tollhouse.observability import metrics
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, credentials_from
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web.observe import observe_token_response
from tollhouse.web.parsing import header, scope_form
from tollhouse.web.proxy import TrustedProxies
from tollhouse.web.rendering import json_messages
from tollhouse.web.request_context import RequestContext
from tollhouse.web.routes import discovery_result, jwks_result
from tollhouse.web.throttle import ENDPOINTS, refusal

log = logging.getLogger("tollhouse.web")

Handler = Callable[[Provider, Scope, Receive], Awaitable[JsonResult]]


class FastRoute(NamedTuple):
    """One hot endpoint: its path (the metrics' route template) and handler."""

    path: str
    handler: Handler
    limit: str | None
    """The per-client-IP rate limit in front of it (web/throttle.py), if any."""


class FastLane:
    """The outermost layer: serves the hot endpoints itself, with the steps of the layers
    in ``rest`` (client IP, request context, rate limit) called in one coroutine; hands
    every other request to ``rest``."""

    def __init__(self, app: Starlette, rest: TrustedProxies, context: RequestContext) -> None:
        self.app = app
        self.rest = rest
        self.context = context
        handlers: dict[tuple[str, str], Handler] = {
            ("POST", "/token"): token,
            ("POST", "/introspect"): introspect,
            ("POST", "/revoke"): revoke,
            ("GET", "/jwks.json"): jwks,
            ("GET", "/.well-known/openid-configuration"): discovery,
            ("GET", "/.well-known/oauth-authorization-server"): discovery,
        }
        self._routes = {
            key: FastRoute(key[1], handler, ENDPOINTS.get(key[1]))
            for key, handler in handlers.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self._routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if route is None:
            await self.rest(scope, receive, send)
            return
        self.rest.resolve(scope)
        context = self.context
        exchange = context.open(scope)
        status = 500
        started = False
        try:
            provider: Provider = self.app.state.provider
            result = None
            if route.limit is not None:
                result = await refusal(provider, scope, route.limit, route.path)
            if result is None:
                result = await route.handler(provider, scope, receive)
            start, body = json_messages(scope, result, context.headers(scope, exchange))
            status = result.status
            started = True
            await send(start)
            await send(body)
        except Exception as error:
            status = await context.fail(scope, exchange, error, send, started=started) or status
        finally:
            context.close(scope, exchange, status, route.path)


def request_id(scope: Scope) -> str | None:
    request_id: str | None = scope.get("state", {}).get("request_id")
    return request_id


async def client_request(scope: Scope, receive: Receive) -> TokenRequest | JsonResult:
    """The form body and client credentials of a client-authenticated POST endpoint."""
    try:
        params = await scope_form(scope, receive)
        credentials = credentials_from(header(scope, b"authorization"), params)
    except InvalidClient as error:
        return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
    except OAuthError as error:
        return error_json(error)
    return TokenRequest(params, credentials)


def log_refusal(scope: Scope, what: str, parsed: TokenRequest, result: JsonResult) -> None:
    if result.error is None:
        return
    log.info(
        f"{what} refused",
        extra={
            "request_id": request_id(scope),
            "error": result.error.error,
            "reason": result.error.debug or result.error.description,
            "client_id": parsed.credentials.client_id,
            "grant_type": parsed.params.get("grant_type"),
        },
    )


async def client_rate_limit(provider: Provider, parsed: TokenRequest) -> JsonResult | None:
    """Per client_id limit on /token (the per-IP one runs before parsing), so guessing a
    client's secret from many addresses is slowed down too."""
    client_id = parsed.credentials.client_id
    if not client_id:
        return None
    decision = await provider.rate_limits.take("token_client", client_id[:256])
    if decision.allowed:
        return None
    metrics.rate_limited("/token")
    error = SlowDown(f"Too many requests for this client; retry after {decision.retry_after} s.")
    return error_json(error, headers={"Retry-After": str(decision.retry_after)})


async def token(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 6749 §3.2: POST only, form-encoded; responses are never cached."""
    grant_types = provider.token.grant_types
    parsed = await client_request(scope, receive)
    if isinstance(parsed, JsonResult):
        observe_token_response(None, grant_types, parsed)
        return parsed
    limited = await client_rate_limit(provider, parsed)
    if limited is not None:
        observe_token_response(None, grant_types, limited)
        return limited
    result = await provider.token.handle(parsed)
    log_refusal(scope, "token request", parsed, result)
    observe_token_response(parsed.params.get("grant_type"), grant_types, result)
    return result


async def _client_endpoint(
    provider: Provider,
    scope: Scope,
    receive: Receive,
    what: str,
    handle: Callable[[TokenRequest], Awaitable[JsonResult]],
) -> JsonResult:
    parsed = await client_request(scope, receive)
    if isinstance(parsed, JsonResult):
        return parsed
    result = await handle(parsed)
    log_refusal(scope, what, parsed, result)
    return result


async def revoke(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 7009 §2.1."""
    return await _client_endpoint(
        provider, scope, receive, "revocation request", provider.revocation.handle
    )


async def introspect(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 7662 §2.1."""
    return await _client_endpoint(
        provider, scope, receive, "introspection request", provider.introspection.handle
    )


async def jwks(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    return await jwks_result(provider)


async def discovery(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    return await discovery_result(provider)
