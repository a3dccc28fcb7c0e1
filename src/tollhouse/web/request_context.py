"""Steps 2, 6 and 7 of the request pipeline (web/pipeline.py): a request id with the
security headers, the HTTP metrics with the audit binding and the access log, and a
generic ``server_error`` instead of a stack trace for anything unexpected.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable

from starlette.types import Scope, Send

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability import metrics
from tollhouse.observability.access_log import ACCESS_LOG
from tollhouse.observability.audit import RequestInfo, bind_request, unbind_request
from tollhouse.randomness import identifier
from tollhouse.web.rendering import RETRY_AFTER

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
    """One request as the pipeline follows it: its id, clock and audit binding, and the
    status answered once a response has started (``responded``)."""

    __slots__ = ("bound", "request_id", "responded", "started", "status")

    def __init__(
        self, request_id: str, started: float, bound: contextvars.Token[RequestInfo | None]
    ) -> None:
        self.request_id = request_id
        self.started = started
        self.bound = bound
        self.status = 500
        self.responded = False


Headers = Callable[[Scope, Exchange], list[tuple[bytes, bytes]]]


def note_challenge_error(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """RFC 6750 §3: a bearer refusal names its code in the challenge; the access log
    records it when the response did not name one already."""
    state = scope["state"]
    if "oauth_error" in state:
        return
    challenge = dict(headers).get(b"www-authenticate", b"")
    found = _CHALLENGE_ERROR.search(challenge)
    if found:
        state["oauth_error"] = found.group(1).decode("ascii")


class RequestContext:
    """What the pipeline does before and after the endpoint, whoever answers."""

    def __init__(self, *, hsts: bool) -> None:
        self.hsts = hsts

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
        self, scope: Scope, exchange: Exchange, error: Exception, send: Send, headers: Headers
    ) -> None:
        """Log what went wrong and, unless a response has started, answer for it: 503 with
        Retry-After when the database or Redis cannot be reached (a retry will do, not a
        bug), else a generic 500 naming the request id, with ``headers``."""
        request_id = exchange.request_id
        if isinstance(error, TemporarilyUnavailable):
            error_log.warning(
                "temporarily unavailable",
                extra={"request_id": request_id, "path": scope.get("path"), "reason": error.debug},
            )
            status = error.status
            body = json.dumps(error.to_dict()).encode()
            retry_after = str(error.retry_after or RETRY_AFTER)
            extra = [(b"retry-after", retry_after.encode())]
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
        if exchange.responded:
            return  # the status sent stands
        scope["state"]["oauth_error"] = code
        sent = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        sent += extra + headers(scope, exchange)
        exchange.status = status
        exchange.responded = True
        await send({"type": "http.response.start", "status": status, "headers": sent})
        await send({"type": "http.response.body", "body": body})

    def close(self, scope: Scope, exchange: Exchange, endpoint: str) -> None:
        """Count and log the answered request; ``endpoint`` is its route template."""
        status = exchange.status
        elapsed = time.perf_counter() - exchange.started
        metrics.observe_request(endpoint, status, elapsed)
        unbind_request(exchange.bound)
        if ACCESS_LOG.enabled:
            error = None
            if status >= 400:
                # The RFC error code (set by rendering.json_response / error_page).
                error = scope["state"].get("oauth_error") or (
                    "server_error" if status >= 500 else None
                )
            ACCESS_LOG.request(
                exchange.request_id,
                scope.get("method"),
                scope.get("path"),
                status,
                elapsed,
                (scope.get("client") or ("", 0))[0],
                error,
            )
