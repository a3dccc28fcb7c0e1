"""What one connection may hold: header block size, read timeouts, and how many are open.

uvicorn as it ships bounds none of these for its httptools protocol: a header block is
read to its end however large, a connection that stops halfway through a header block
or a body is kept forever, and its only timeout, keep-alive, runs between a response
and the next request's first byte.
:class:`LimitedHttp` is the ``http`` protocol ``tollhouse serve`` gives uvicorn: the
write-coalescing wrapper (web/write_coalescing.py) that also watches the bytes before
uvicorn's parser gets them (web/request_framing.py), through the public
``asyncio.Protocol``/``asyncio.Transport`` interfaces only (ADR 0010). It is the
protocol of every listening socket, TLS or not, in every ``--workers`` process.

- A request line or header block over ``max_header_bytes`` is answered 414 or 431
  (RFC 6585 §5) from the bytes that passed the limit, never read to its end; a body
  declared (or sent chunked) over ``max_body_bytes``, 413. The connection then closes.
- From a connection's start, and from the first byte of each later header block, the
  headers must end within ``header_timeout`` seconds: else 408 (or, when nothing at all
  was sent, a silent close). A body may pause at most ``body_timeout`` seconds between
  two reads (an idle time, not a deadline); else the connection closes. While uvicorn
  itself has stopped reading (flow control) neither clock runs against the client.
- At most ``max_connections`` are open per process; a connection beyond them gets 503
  with ``Retry-After`` once its header block has arrived, then is closed.

A refused connection is closed as RFC 9112 §9.6 describes: the answer, then the sending
side shut, then what the client still sends read and dropped for :data:`LINGER`
seconds or until it closes (TLS has no half-close: closed at once).

A connection refused mid-pipeline gets its refusal in place of the answers it still
awaited. The work per received chunk is a counter, a search for the end of the block
and, once per request, a look for the two body-framing fields; besides the one each
connection starts with, a timer is armed only when a chunk ends inside a header block
or a body.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from tollhouse.web.request_framing import BETWEEN, BODY, HEADERS, RequestFraming
from tollhouse.web.write_coalescing import CoalescingHttp

log = logging.getLogger("tollhouse.connections")

LINGER = 2.0
"""Seconds a refused connection is still read (and what comes dropped) after its
refusal was sent and its sending side shut: closed with unread bytes, it would send
the client a reset, which can destroy the refusal before the client reads it."""
WARNING_INTERVAL = 60.0
"""Seconds between two warnings that the connection cap was reached."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per process; ``TOLLHOUSE_MAX_HEADER_BYTES``, ``…_HEADER_TIMEOUT``,
    ``…_BODY_TIMEOUT``, ``…_MAX_CONNECTIONS`` (config.py)."""

    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    max_body_bytes: int = 1024 * 1024
    """Far above what any endpoint reads (they refuse more than 64 KiB with their own
    error, web/parsing.py): this only stops bodies that nothing would read."""


def _refusal(status: HTTPStatus, text: str, *extra: bytes) -> bytes:
    body = text.encode() + b"\n"
    head = [
        b"HTTP/1.1 %d %s" % (status, status.phrase.encode()),
        b"content-type: text/plain; charset=utf-8",
        b"content-length: %d" % len(body),
        b"cache-control: no-store",
        b"x-content-type-options: nosniff",
        *extra,
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


REFUSALS = {
    400: _refusal(HTTPStatus.BAD_REQUEST, "The request body's length cannot be determined."),
    408: _refusal(HTTPStatus.REQUEST_TIMEOUT, "The request headers took too long to arrive."),
    413: _refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The request body is too large."),
    414: _refusal(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long."),
    431: _refusal(
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request header fields are too large."
    ),
    503: _refusal(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "The server has too many open connections; try again shortly.",
        b"retry-after: 1",
    ),
}


class _Census:
    """This process's open connections, and the refusals since the last warning."""

    open = 0
    refused = 0
    warned_at = float("-inf")


census = _Census()


class LimitedHttp(CoalescingHttp):
    """:class:`CoalescingHttp` within :attr:`limits` (module docstring)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    """Set once per process before serving (web/asgi.py), read by each new connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = self.limits
        self._framing = RequestFraming(limits.max_header_bytes, limits.max_body_bytes)
        self._timer: asyncio.TimerHandle | None = None
        self._timed = BETWEEN
        """What the armed timer times: HEADERS, BODY, or nothing (BETWEEN)."""
        self._last_read = 0.0
        self._counted = False
        self._over_cap = False
        self._done = False
        """Refused or timed out: nothing more is read or passed on."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._raw: asyncio.Transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        if census.open < self.limits.max_connections:
            census.open += 1
            self._counted = True
        else:
            self._over_cap = True
            self._warn_cap()
        self._arm(HEADERS)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        framing = self._framing
        refusal = framing.feed(data)
        if refusal:
            self._refuse(refusal)
            return
        if self._over_cap:
            if framing.requests:
                self._refuse(503)
            return
        self._inner.data_received(data)
        phase = framing.phase
        if phase == BETWEEN:
            if self._timer is not None:
                self._disarm()
        elif phase == BODY:
            self._last_read = self._loop.time()
            if self._timed != BODY:
                self._arm(BODY)
        elif self._timed != HEADERS:
            self._arm(HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._disarm()
        if self._counted:
            self._counted = False
            census.open -= 1
        super().connection_lost(exc)

    def _arm(self, phase: int, delay: float | None = None) -> None:
        self._disarm()
        if delay is None:
            limits = self.limits
            delay = limits.header_timeout if phase == HEADERS else limits.body_timeout
        self._timed = phase
        self._timer = self._loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timed = BETWEEN

    def _expired(self) -> None:
        timed = self._timed
        self._timer, self._timed = None, BETWEEN
        if self._done:
            return
        if not self._raw.is_reading():
            # uvicorn paused reading (a response still owed, a body not yet consumed):
            # the client cannot be sending, so its clock starts again.
            self._last_read = self._loop.time()
            self._arm(timed)
            return
        if timed == BODY:
            idle = self._loop.time() - self._last_read
            if idle < self.limits.body_timeout:
                self._arm(BODY, self.limits.body_timeout - idle)
                return
            self._close("body")
        elif self._framing.phase == HEADERS:
            self._refuse(408)
        else:
            self._close("nothing sent")

    def _refuse(self, status: int) -> None:
        log.info(
            "request refused",
            extra={"event": "request_refused", "status": status, "client": self._client()},
        )
        self._done = True
        self._disarm()
        transport = self._transport
        transport.write(REFUSALS[status])
        if transport.can_write_eof():
            transport.write_eof()
            self._timer = self._loop.call_later(LINGER, transport.close)
        else:
            transport.close()

    def _close(self, waiting_for: str) -> None:
        log.info(
            "read timeout",
            extra={"event": "read_timeout", "waiting_for": waiting_for, "client": self._client()},
        )
        self._done = True
        self._transport.close()

    def _client(self) -> str | None:
        peer = self._raw.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) else None

    def _warn_cap(self) -> None:
        census.refused += 1
        now = self._loop.time()
        if now - census.warned_at >= WARNING_INTERVAL:
            log.warning(
                "connection cap reached: new connections get 503",
                extra={
                    "event": "connection_cap",
                    "max_connections": self.limits.max_connections,
                    "refused": census.refused,
                },
            )
            census.warned_at, census.refused = now, 0
