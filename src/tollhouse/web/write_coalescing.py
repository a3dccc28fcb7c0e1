"""uvicorn's HTTP/1.1 protocol, unchanged, writing each event-loop pass's bytes at once.

An identity provider's answers are small and whole: one JSON document, one page.
uvicorn writes a response in two or three ``transport.write`` calls (status line and
headers, body, end), and an asyncio transport sends each at once when nothing is
queued: a system call, a TCP segment and a wake-up of the reader per call. For the
smallest answers (``/jwks.json``, discovery) those calls are a large part of the
serving process's CPU (bench/RESULTS.md).

:class:`CoalescingHttp` wraps the protocol uvicorn would use (its public ``http``
setting names it) and hands it a transport whose writes are collected and sent once,
at the end of the event loop's pass: a whole response, and the responses finished in
the same pass on that connection, leave in one system call. Everything else —
parsing, header validation, pipelining, flow control, keep-alive — stays uvicorn's
own, reached only through the ``asyncio.Protocol`` and ``asyncio.Transport``
interfaces every uvicorn protocol implements; no private class is subclassed or
copied, so an upgrade of uvicorn needs no diff here.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from tollhouse.web import peer_certificates

INNER = "httptools"
"""The uvicorn protocol wrapped (its name in uvicorn's ``http`` setting)."""


@functools.cache
def inner_protocol() -> type[asyncio.Protocol]:
    protocol: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS[INNER])
    return protocol


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes wait for the end of the event loop's pass."""

    __slots__ = ("_chunks", "_loop", "_scheduled", "_shut", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []
        self._scheduled = False
        self._shut = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._chunks.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what was written in this pass, in one write."""
        self._scheduled = False
        if not self._chunks:
            return
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        if not self._shut and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._chunks.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._chunks))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        """Send what is pending, then shut the sending side: what is written after is
        dropped (a response finished after the connection was refused)."""
        self.flush()
        self._shut = True
        self._transport.write_eof()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class CoalescingHttp(asyncio.Protocol):
    """uvicorn's ``http`` protocol (``INNER``) behind a :class:`CoalescingTransport`.

    Served with ``uvicorn.Config(http=CoalescingHttp, …)``; uvicorn constructs it with
    the arguments of its own protocols, which are passed on unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._inner = inner_protocol()(*args, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = CoalescingTransport(
            cast(asyncio.Transport, transport), asyncio.get_running_loop()
        )
        # RFC 8705: the client certificate of built-in TLS (web/peer_certificates.py).
        self._peer = peer_certificates.remember(transport)
        self._inner.connection_made(self._transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        peer_certificates.forget(self._peer)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
