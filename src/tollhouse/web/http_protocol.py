"""uvicorn's httptools HTTP/1.1 protocol with two per-response costs taken out.

An identity provider's answers are small and whole: one JSON document, one page. For
such a response uvicorn's protocol pays, besides the request itself:

* two ``send`` system calls, one for the status line and headers and one for the body
  (two TCP segments on the wire, two wake-ups of the client);
* a new event-loop timer for the keep-alive timeout after every response, cancelled as
  soon as the next request on the connection arrives.

* a write to the socket the moment each response is ready: over loopback (a proxy on
  the same host, a load generator) each write hands the bytes to the reader and wakes
  it, about 8 µs of this process's CPU per response on a virtual machine when the
  reader has gone back to sleep since the last one.

On ``GET /jwks.json`` the first two were about 38 % of the serving process's CPU
(py-spy), the wake-ups a fifth of an introspection's (perf; bench/RESULTS.md).
:class:`ResponseCycle` holds the header block back until the first body chunk and
writes both at once, and a complete response on a kept-alive connection is written at
the end of the event loop's pass with the others finished in it
(:class:`EndOfPassWriter`); :class:`HttpProtocol` keeps one timer per idle period
instead of one per response. Everything else — parsing, header validation,
pipelining, flow control, ``Expect: 100-continue``, HEAD, chunked streaming — is
uvicorn's own code, unchanged. Served with ``uvicorn.run(..., http=HttpProtocol)``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import weakref

import httptools
from uvicorn._types import ASGI3Application, ASGISendEvent
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)


class ResponseCycle(RequestResponseCycle):
    """One request/response; the header block waits for the first body chunk."""

    _head: bytes = b""
    end_of_pass: EndOfPassWriter

    async def send(self, message: ASGISendEvent) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self.response_started = True
            self.waiting_for_100_continue = False
            self._head = self._header_block(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already "
                "completed."
            )
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        head, self._head = self._head, b""
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            payload = head
        elif self.chunked_encoding:
            chunk = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            payload = head + chunk + (b"" if more_body else b"0\r\n\r\n")
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            payload = head + body
        if payload and (more_body or not self.keep_alive):
            self.transport.write(payload)  # streamed, or the connection closes next
        elif payload:
            self.end_of_pass.write(self.transport, payload)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def _header_block(self, status: int, headers: object) -> bytes:
        """Status line and headers, validated as uvicorn validates them (no CR/LF or
        other control bytes can reach the wire); sets the body framing."""
        content = [STATUS_LINE[status], _default_lines(self.default_headers)]
        connection_close = False
        for name, value in headers:  # type: ignore[attr-defined]
            sent = (name, value)
            line = _STATIC_LINES.get(sent)
            if line is not None:
                content.append(line)
                continue
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection" and b"close" in [
                token.lower().strip() for token in value.split(b",")
            ]:
                self.keep_alive = False
                connection_close = True
            line = b"%b: %b\r\n" % (name, value)
            if name in STATIC_HEADERS and len(_STATIC_LINES) < MAX_STATIC_LINES:
                _STATIC_LINES[sent] = line
            content.append(line)
        if not self.keep_alive and not connection_close:
            content.append(b"connection: close\r\n")
        if (
            self.chunked_encoding is None
            and self.scope["method"] != "HEAD"
            and status not in (204, 304)
        ):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        return b"".join(content)


class EndOfPassWriter:
    """Complete responses written in a burst once the event loop has run what was ready.

    The loop runs the requests that became ready together one after another; writing
    each response the moment it is ready wakes a sleeping reader once per response.
    Written together at the end of that pass (``call_soon``, behind the tasks already
    queued), the reader wakes for the first and finds the rest: the server spent about
    a fifth less CPU per introspection and its p99 fell (bench/RESULTS.md). A response
    waits at most ``MAX_DELAY`` plus the request that ran past it: a pass of requests
    that each take long (an RSA signature each) is written in many small bursts,
    not held until the last of them is done. One alone is written in the same pass.

    Order on a connection holds: uvicorn starts a connection's next request only when
    its response is complete, and that request's task is queued behind this write.
    Streamed chunks and a response followed by closing the connection are written at
    once (:meth:`ResponseCycle.send`), and a stopping server writes what is pending
    before it closes connections (:meth:`HttpProtocol.shutdown`). One writer per event
    loop (:meth:`of`).
    """

    MAX_DELAY = 0.0005
    """Seconds the first response of a burst may wait for the others."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EndOfPassWriter] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._pending: list[tuple[asyncio.Transport, bytes]] = []
        self._since = 0.0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> EndOfPassWriter:
        writer = cls._by_loop.get(loop)
        if writer is None:
            writer = cls._by_loop[loop] = cls()
        return writer

    def write(self, transport: asyncio.Transport, payload: bytes) -> None:
        """Called from the loop this writer belongs to."""
        self._pending.append((transport, payload))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)
            self._since = time.perf_counter()
        elif time.perf_counter() - self._since >= self.MAX_DELAY:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for transport, payload in pending:
            if not transport.is_closing():  # the client left meanwhile
                transport.write(payload)


STATIC_HEADERS = frozenset(
    (
        b"content-type",
        b"cache-control",
        b"pragma",
        b"x-content-type-options",
        b"referrer-policy",
        b"x-frame-options",
        b"strict-transport-security",
        b"vary",
    )
)
"""Headers whose few values repeat on every response (no framing, nothing per request):
a (name, value) pair validated once is not validated again."""
MAX_STATIC_LINES = 256
_STATIC_LINES: dict[tuple[bytes, bytes], bytes] = {}

_defaults: tuple[list[tuple[bytes, bytes]], bytes] | None = None


def _default_lines(defaults: list[tuple[bytes, bytes]]) -> bytes:
    """The server's own headers (uvicorn's ``date``, replaced with a new list once a
    second), validated and rendered once per list. The list is held, so its identity
    cannot be reused by another."""
    global _defaults
    if _defaults is not None and _defaults[0] is defaults:
        return _defaults[1]
    lines = []
    for name, value in defaults:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header in the server's default headers.")
        lines.append(b"%b: %b\r\n" % (name.lower(), value))
    _defaults = (defaults, b"".join(lines))
    return _defaults[1]


class HttpProtocol(HttpToolsProtocol):
    """One connection. Idle keep-alive connections close ``timeout_keep_alive`` seconds
    after their last response, checked by one timer per idle period."""

    _idle_since: float | None = None
    _idle_timer: asyncio.TimerHandle | None = None
    _end_of_pass: EndOfPassWriter

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._end_of_pass = EndOfPassWriter.of(self.loop)

    def _unset_keepalive_if_required(self) -> None:
        # Called when data arrives and when the connection is lost: the connection is
        # busy (or gone), so the running timer will find nothing to close.
        self._idle_since = None

    def shutdown(self) -> None:
        """The server is stopping: responses finished in this pass go out before their
        connections are closed."""
        self._end_of_pass.flush()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing() or self._idle_since is None:
            return  # busy: on_response_complete arms the next timer
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left <= 0:
            self.transport.close()
        else:
            self._idle_timer = self.loop.call_later(left, self._check_idle)

    def on_headers_complete(self) -> None:
        """uvicorn's, with :class:`ResponseCycle` as the cycle."""
        http_version = self.parser.get_http_version()
        method = self.parser.get_method()
        self.scope["method"] = method.decode("ascii")
        if http_version != "1.1":
            self.scope["http_version"] = http_version
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        self.scope["path"] = self.root_path + path
        self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        self.scope["query_string"] = parsed_url.query or b""

        app: ASGI3Application = self.app
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency
            or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")

        existing_cycle = self.cycle
        self.cycle = ResponseCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        self.cycle.end_of_pass = self._end_of_pass
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))
