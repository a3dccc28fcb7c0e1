"""What every request gets, whoever answers it: a request id, the security headers, the
HTTP metrics, the request bound for the audit trail, the access log, and a generic
``server_error`` instead of a stack trace for anything unexpected.

:class:`RequestContext` is the ASGI layer doing it around the pages and everything else
Starlette serves. The hot endpoints (web/fast_lane.py) are answered in front of that
layer, in one coroutine, and use the same steps directly: :meth:`RequestContext.open`,
:meth:`~RequestContext.headers`, :meth:`~RequestContext.fail`,
:meth:`~RequestContext.close`. Each ASGI layer costs a coroutine and a ``send`` wrapper
per request: the layers in front of an introspection were a third of its CPU in process
(bench/RESULTS.md).
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability import metrics
from tollhouse.observability.audit import RequestInfo, bind_request, unbind_request
from tollhouse.randomness import identifier
from tollhouse.web.observe import route_template
from tollhouse.web.rendering import RETRY_AFTER

access_log = logging.getLogger("tollhouse.access")
error_log = logging.getLogger("tollhouse.error")

_CHALLENGE_ERROR = re.compile(rb'error="([\x20\x21\x23-\x5b\x5d-\x7e]+)"')
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


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


class Exchange:
    """One request as :class:`RequestContext` follows it."""

    __slots__ = ("bound", "request_id", "started")

    def __init__(
        self, request_id: str, started: float, bound: contextvars.Token[RequestInfo | None]
    ) -> None:
        self.request_id = request_id
        self.started = started
        self.bound = bound


class RequestContext:
    """Pure ASGI middleware around every request Starlette serves, and the same steps for
    the endpoints answered before it (module docstring).

    The ``endpoint`` label of the metrics is the template of the route that served the
    request (web/observe.py), or of the route it would have reached when it was answered
    before routing (a rate limit's 429): ``routes``."""

    def __init__(self, app: ASGIApp, *, hsts: bool, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.hsts = hsts
        self.routes = tuple(routes)

    def open(self, scope: Scope) -> Exchange:
        """Start following a request: its id (in ``scope["state"]``), its clock, its
        audit binding. Every :meth:`open` is followed by one :meth:`close`."""
        request_id = REQUEST_IDS.next()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        bound = bind_request(RequestInfo(request_id, state.get("client_ip")))
        return Exchange(request_id, time.perf_counter(), bound)

    def headers(self, scope: Scope, exchange: Exchange) -> list[tuple[bytes, bytes]]:
        """The headers every response carries: its request id and the security headers,
        HSTS over https (directly, or per X-Forwarded-Proto from a trusted proxy)."""
        headers = [(b"x-request-id", exchange.request_id.encode()), *SECURITY_HEADERS]
        if self.hsts or scope.get("scheme") == "https":
            headers.append(HSTS)
        return headers

    async def fail(
        self, scope: Scope, exchange: Exchange, error: Exception, send: Send, *, started: bool
    ) -> int | None:
        """Log what went wrong and, unless a response has started, answer for it: 503 with
        Retry-After when the database or Redis cannot be reached (a retry will do, not a
        bug), else a generic 500 naming the request id. Returns the status answered."""
        request_id = exchange.request_id
        if isinstance(error, TemporarilyUnavailable):
            error_log.warning(
                "temporarily unavailable",
                extra={"request_id": request_id, "path": scope.get("path"), "reason": error.debug},
            )
            status = error.status
            body = json.dumps(error.to_dict()).encode()
            extra = [(b"retry-after", RETRY_AFTER.encode())]
            code = error.error
        else:
            error_log.exception(
                "unhandled error", extra={"request_id": request_id, "path": scope.get("path")}
            )
            status = 500
            body = (
                b'{"error":"server_error","error_description":"The server could not '
                b"complete the request. Correlation id: " + request_id.encode() + b'"}'
            )
            extra = []
            code = "server_error"
        if started:
            return None  # the status sent stands
        scope["state"]["oauth_error"] = code
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        headers += extra + self.headers(scope, exchange)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status

    def close(self, scope: Scope, exchange: Exchange, status: int, endpoint: str) -> None:
        """Count and log the answered request; ``endpoint`` is its route template."""
        elapsed = time.perf_counter() - exchange.started
        metrics.observe_request(endpoint, status, elapsed)
        unbind_request(exchange.bound)
        if access_log.isEnabledFor(logging.INFO):
            self._log(scope, exchange.request_id, status, elapsed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = self.open(scope)
        state = scope["state"]
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += self.headers(scope, exchange)
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
        except Exception as error:
            status = (
                await self.fail(scope, exchange, error, send, started=response_started) or status
            )
        finally:
            self.close(scope, exchange, status, route_template(scope, self.routes))

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
