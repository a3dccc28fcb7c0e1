"""Per-request measurements: the HTTP metrics and the request bound for the audit trail.

Pure ASGI middleware placed inside :class:`~tollhouse.web.app.RequestContext` (which
assigns the request id) and inside :class:`~tollhouse.web.proxy.TrustedProxies` (which
finds the client IP). The ``endpoint`` label is the template of the route that served
the request (``/token``, ``/static``), read from Starlette's ``scope["route"]`` after
routing (or found among ``routes`` for a request answered before routing), or
``unmatched``: a raw path would let any client mint label values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollhouse.observability import metrics
from tollhouse.observability.audit import RequestInfo, bind_request, unbind_request
from tollhouse.protocol.results import JsonResult


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that served the request; for a request answered before
    routing (a rate limit's 429), the template of the route it would have reached."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else metrics.UNMATCHED


class HttpMetrics:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.get("state", {})
        token = bind_request(RequestInfo(str(state.get("request_id", "-")), state.get("client_ip")))
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(route_template(scope, self.routes), status, elapsed)
            unbind_request(token)


def observe_token_response(
    grant_type: str | None, supported: Collection[str], outcome: JsonResult | Response
) -> None:
    """Count one ``/token`` answer: a :class:`JsonResult` from the token endpoint, or the
    error response of a request refused before it (unreadable body or credentials)."""
    if isinstance(outcome, JsonResult):
        error = outcome.error.error if outcome.error is not None else None
        if error is None and outcome.status >= 400:
            error = str(outcome.body.get("error", "error"))
    else:
        try:
            error = str(json.loads(bytes(outcome.body)).get("error", "error"))
        except (ValueError, AttributeError):
            error = "error"
    metrics.observe_token_request(grant_type, supported, error)
