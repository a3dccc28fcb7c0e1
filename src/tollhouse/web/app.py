"""The Starlette application: routes plus the request-id / security-header middleware."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollhouse.config import Settings
from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability import metrics
from tollhouse.observability.audit import RequestInfo, bind_request, unbind_request
from tollhouse.provider import Provider
from tollhouse.randomness import identifier
from tollhouse.web import (
    branding,
    health,
    interaction,
    interaction_api,
    logout,
    registration,
    routes,
)
from tollhouse.web.fast_lane import FastLane
from tollhouse.web.observe import route_template
from tollhouse.web.proxy import TrustedProxies, parse_networks
from tollhouse.web.rendering import RETRY_AFTER
from tollhouse.web.throttle import RateLimitMiddleware

access_log = logging.getLogger("tollhouse.access")
error_log = logging.getLogger("tollhouse.error")

_CHALLENGE_ERROR = re.compile(rb'error="([\x20\x21\x23-\x5b\x5d-\x7e]+)"')
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class RequestIds:
    """Request ids unique across processes and restarts: a random prefix drawn once per
    process, then a counter. An id correlates log lines and error pages; it is no
    secret, so it needs no fresh randomness (a system call) per request."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prefix = identifier(6)
        self._numbers = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}.{next(self._numbers):x}"


REQUEST_IDS = RequestIds()
os.register_at_fork(after_in_child=REQUEST_IDS.reset)  # a forked worker gets its own prefix


class RequestContext:
    """Pure ASGI middleware around every request: request id, security headers, the HTTP
    metrics, the request bound for the audit trail, the access log, and a generic
    ``server_error`` instead of a stack trace for anything unexpected.

    One layer for all of them: each ASGI layer costs a coroutine and a ``send`` wrapper
    per request, and a metrics layer of its own was a fifth of an introspection's CPU
    (bench/RESULTS.md). The ``endpoint`` label of the metrics is the template of the
    route that served the request (web/observe.py), or of the route it would have
    reached when it was answered before routing (a rate limit's 429): ``routes``."""

    def __init__(self, app: ASGIApp, *, hsts: bool, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.hsts = hsts
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = REQUEST_IDS.next()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        bound = bind_request(RequestInfo(request_id, state.get("client_ip")))
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                # https directly, or per X-Forwarded-Proto from a trusted proxy (web/proxy.py)
                if self.hsts or scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
                if status >= 400 and "oauth_error" not in state:
                    # RFC 6750 §3: a bearer refusal names its code in the challenge.
                    challenge = dict(headers).get(b"www-authenticate", b"")
                    found = _CHALLENGE_ERROR.search(challenge)
                    if found:
                        state["oauth_error"] = found.group(1).decode("ascii")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except TemporarilyUnavailable as error:
            # The database (or Redis) cannot be reached: a retry will do, not a bug.
            error_log.warning(
                "temporarily unavailable",
                extra={"request_id": request_id, "path": scope.get("path"), "reason": error.debug},
            )
            if not response_started:
                state["oauth_error"] = error.error
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": error.status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"cache-control", b"no-store"),
                            (b"retry-after", RETRY_AFTER.encode()),
                        ],
                    }
                )
                body = json.dumps(error.to_dict()).encode()
                await send({"type": "http.response.body", "body": body})
        except Exception:
            error_log.exception(
                "unhandled error", extra={"request_id": request_id, "path": scope.get("path")}
            )
            if not response_started:
                body = (
                    b'{"error":"server_error","error_description":"The server could not '
                    b"complete the request. Correlation id: " + request_id.encode() + b'"}'
                )
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(route_template(scope, self.routes), status, elapsed)
            unbind_request(bound)
            if access_log.isEnabledFor(logging.INFO):
                self._log(scope, request_id, status, elapsed)

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        line = {
            "request_id": request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "ms": round(elapsed * 1000, 2),
            "client": (scope.get("client") or ("", 0))[0],
        }
        if status >= 400:
            # The RFC error code (set by rendering.json_response / error_page).
            line["error"] = scope["state"].get("oauth_error") or (
                "server_error" if status >= 500 else None
            )
        access_log.info("request", extra=line)


GC_THRESHOLDS = (10_000, 10, 10)


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    A full collection walks every object the process holds (SQLAlchemy's tables and
    compiled statements, the routes, the templates): under load that stalled requests
    for tens of milliseconds and set the p99 of ``/token`` (71 ms → 15 ms at 50
    connections, bench/RESULTS.md). Request garbage is freed by reference counting;
    the collector only has to find cycles among objects made since start-up, and less
    often (``GC_THRESHOLDS``, gen 0 at 10,000 allocations instead of 700).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings, build: Callable[[], Awaitable[Provider]]) -> ASGIApp:
    """The ASGI app; the provider is built inside the server's event loop at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        provider = await build()
        app.state.provider = provider
        settle_heap()
        purger = asyncio.create_task(provider.purger.run_forever(), name="tollhouse-purge")
        keys = asyncio.create_task(provider.key_rotation.run_forever(), name="tollhouse-keys")
        try:
            yield
        finally:
            for task in (purger, keys):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await provider.close()

    static = StaticFiles(directory=Path(__file__).parent / "static")
    app = Starlette(
        routes=[
            *routes.routes(),
            *interaction.routes(),
            *interaction_api.routes(),
            *branding.routes(),
            *logout.routes(),
            *health.routes(),
            *registration.routes(),
            Mount("/static", app=static, name="static"),
        ],
        lifespan=lifespan,
    )
    # Outermost first: client IP and scheme; request id, headers, metrics, access log;
    # rate limits; the hot endpoints (web/fast_lane.py), then Starlette for the rest.
    return TrustedProxies(
        RequestContext(
            RateLimitMiddleware(FastLane(app)), hsts=not settings.insecure_http, routes=app.routes
        ),
        parse_networks(settings.trusted_proxies),
    )
