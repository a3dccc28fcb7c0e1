"""web/http_protocol.py: uvicorn on 127.0.0.1 with our protocol, spoken to over raw TCP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tollhouse.web import http_protocol
from tollhouse.web.http_protocol import HttpProtocol

WRITES: list[bytes] = []
WRITTEN_WHEN_SENT: list[int] = []
"""``len(WRITES)`` right after the app sent a ``/gate`` response's last body chunk."""
GATE = asyncio.Event()
AT_GATE: list[str] = []
SERVERS: list[uvicorn.Server] = []
"""The server serving :func:`app`, for ``/shutdown``."""


class _RecordingTransport:
    """The real transport, with every ``write`` also kept in :data:`WRITES`."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RecordingProtocol(HttpProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_RecordingTransport(transport))  # type: ignore[arg-type]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/inject":
        headers = [(b"x-evil", b"a\r\nset-cookie: stolen=1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"never"})
        return
    if scope["path"] == "/static":
        # A header of the kind whose validated lines are kept: its value from the query.
        value = urllib.parse.unquote_to_bytes(scope["query_string"].decode())
        headers = [(b"cache-control", value), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.6)
    if scope["path"] == "/shutdown":
        await send({"type": "http.response.start", "status": 200, "headers": LENGTH_4})
        await send({"type": "http.response.body", "body": b"done"})
        for open_connection in list(SERVERS[0].server_state.connections):
            open_connection.shutdown()  # as uvicorn's Server.shutdown does
        return
    if scope["path"] == "/gate":
        AT_GATE.append(scope["path"])
        await GATE.wait()
        answer = b"gate"
        await send({"type": "http.response.start", "status": 200, "headers": LENGTH_4})
        await send({"type": "http.response.body", "body": answer})
        WRITTEN_WHEN_SENT.append(len(WRITES))
        return
    answer = b'{"path":"' + scope["path"].encode() + b'","got":' + str(len(body)).encode() + b"}"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


LENGTH_4 = [(b"content-length", b"4")]


@pytest.fixture
async def port() -> AsyncIterator[int]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http=RecordingProtocol,
        lifespan="off",
        log_config=None,
        timeout_keep_alive=0.3,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(500):  # bounded: 5 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    SERVERS[:] = [server]
    WRITES.clear()
    WRITTEN_WHEN_SENT.clear()
    GATE.clear()
    AT_GATE.clear()
    yield listener.getsockname()[1]
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    listener.close()


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode()


async def response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head[:-4].split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines)
    length = int(headers.get(b"content-length", b"0"))
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return status, headers, body


async def test_a_whole_response_is_one_write(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/a"))
        status, headers, body = await response(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert headers[b"content-type"] == b"application/json"
    assert body == b'{"path":"/a","got":0}'
    assert len(WRITES) == 1
    assert WRITES[0].startswith(b"HTTP/1.1 200 OK\r\n") and WRITES[0].endswith(body)


async def test_keep_alive_and_pipelined_requests_are_answered_in_order(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/first"))
        assert (await response(reader))[2] == b'{"path":"/first","got":0}'
        body = b"x" * 10
        post = b"POST /second HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n" + body
        writer.write(get("/slow") + post + get("/third"))
        assert (await response(reader))[2] == b'{"path":"/slow","got":0}'
        assert (await response(reader))[2] == b'{"path":"/second","got":10}'
        assert (await response(reader))[2] == b'{"path":"/third","got":0}'


async def test_head_sends_the_headers_without_the_body(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/h", "HEAD") + get("/after"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"content-length: 21" in head  # {"path":"/h","got":0}
        # The next bytes are the next response, not a HEAD body.
        assert (await response(reader))[2] == b'{"path":"/after","got":0}'


async def test_a_streamed_response_is_chunked(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/stream"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"transfer-encoding: chunked" in head
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
    assert rest == b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"


async def test_expect_100_continue_is_answered_before_the_body(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(
            b"POST /e HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        assert (await response(reader))[2] == b'{"path":"/e","got":3}'


async def test_a_header_with_a_line_break_never_reaches_the_wire(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/inject"))
        received = await asyncio.wait_for(reader.read(), 5)  # the server closes
    assert b"stolen" not in received and b"never" not in received


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(port: int) -> None:
    loop = asyncio.get_running_loop()
    async with connection(port) as (reader, writer):
        writer.write(get("/a"))
        await response(reader)
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.25 < loop.time() - answered < 2.0


async def test_a_busy_connection_is_not_closed_while_it_keeps_asking(port: int) -> None:
    async with connection(port) as (reader, writer):
        for number in range(6):  # 6 x 0.15 s: well past one 0.3 s timeout
            writer.write(get(f"/{number}"))
            assert (await response(reader))[2] == b'{"path":"/%d","got":0}' % number
            await asyncio.sleep(0.15)
        # A request still running when the timer fires is not cut off either.
        writer.write(get("/slow"))
        assert (await response(reader))[2] == b'{"path":"/slow","got":0}'


async def test_a_kept_header_line_is_kept_per_value_and_a_bad_value_still_refused(
    port: int,
) -> None:
    async with connection(port) as (reader, writer):
        for _ in range(2):
            writer.write(get("/static?no-store"))
            _, headers, body = await response(reader)
            assert headers[b"cache-control"] == b"no-store" and body == b"ok"
        writer.write(get("/static?no-store%0d%0aset-cookie:%20stolen=1"))
        received = await asyncio.wait_for(reader.read(), 5)  # the server closes
    assert b"stolen" not in received and b"ok" not in received


async def test_kept_header_lines_are_bounded(port: int) -> None:
    async with connection(port) as (reader, writer):
        for n in range(http_protocol.MAX_STATIC_LINES + 20):
            writer.write(get(f"/static?max-age={n}"))
            _, headers, _ = await response(reader)
            assert headers[b"cache-control"] == b"max-age=%d" % n
    assert len(http_protocol._STATIC_LINES) <= http_protocol.MAX_STATIC_LINES


async def test_the_date_header_follows_the_clock(port: int) -> None:
    dates = []
    for pause in (0.0, 1.2):  # the keep-alive timeout here is 0.3 s: a connection each
        await asyncio.sleep(pause)
        async with connection(port) as (reader, writer):
            writer.write(get("/a"))
            dates.append((await response(reader))[1][b"date"])
    assert dates[0] != dates[1]


async def test_responses_finished_in_one_pass_are_written_together_after_it(port: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connection(port)) for _ in range(3)]
        for _, writer in clients:
            writer.write(get("/gate"))
            await writer.drain()
        for _ in range(500):  # bounded: 5 s until all three wait at the gate
            await asyncio.sleep(0.01)
            if len(AT_GATE) == 3:
                break
        GATE.set()  # the three finish in one pass of the loop
        for reader, _ in clients:
            assert (await response(reader))[2] == b"gate"
    # When each had sent its response, none of the three had been written yet.
    assert WRITTEN_WHEN_SENT == [0, 0, 0]
    assert len(WRITES) == 3


async def test_a_response_before_closing_is_written_at_once(port: int) -> None:
    GATE.set()
    async with connection(port) as (reader, writer):
        writer.write(b"GET /gate HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        received = await asyncio.wait_for(reader.read(), 5)  # the server closes
    assert received.endswith(b"\r\n\r\ngate")
    assert WRITTEN_WHEN_SENT == [1]


async def test_a_stopping_server_writes_the_responses_it_finished_before_closing(
    port: int,
) -> None:
    async with connection(port) as (reader, writer):
        writer.write(get("/shutdown"))
        received = await asyncio.wait_for(reader.read(), 5)  # the server closes
    assert received.endswith(b"\r\n\r\ndone")


class _Transport:
    def __init__(self, closing: bool) -> None:
        self.closing = closing
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes) -> None:
        self.written.append(data)


async def test_the_end_of_pass_writer_keeps_order_and_skips_clients_gone() -> None:
    writer = http_protocol.EndOfPassWriter.of(asyncio.get_running_loop())
    assert writer is http_protocol.EndOfPassWriter.of(asyncio.get_running_loop())
    here, gone = _Transport(False), _Transport(False)
    writer.write(here, b"one")
    writer.write(gone, b"lost")
    writer.write(here, b"two")
    gone.closing = True  # the client left before the end of the pass
    assert here.written == []
    await asyncio.sleep(0)
    assert here.written == [b"one", b"two"] and gone.written == []
    writer.write(here, b"three")  # the next pass has its own flush
    await asyncio.sleep(0)
    assert here.written == [b"one", b"two", b"three"]


async def test_a_burst_goes_out_once_its_first_response_has_waited_max_delay() -> None:
    writer = http_protocol.EndOfPassWriter()
    here = _Transport(False)
    writer.write(here, b"one")
    time.sleep(writer.MAX_DELAY * 2)  # noqa: ASYNC251 (a long request blocking the pass)
    writer.write(here, b"two")
    assert here.written == [b"one", b"two"]  # not held until the pass ends
    writer.write(here, b"three")  # the first of the next burst
    assert here.written == [b"one", b"two"]
    await asyncio.sleep(0)
    assert here.written == [b"one", b"two", b"three"]
