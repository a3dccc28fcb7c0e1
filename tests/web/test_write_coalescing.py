"""The write-coalescing transport around uvicorn's protocol (web/write_coalescing.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from tollhouse.web.write_coalescing import CoalescingHttp, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_the_writes_of_one_pass_leave_in_one_write() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"{}")
    assert inner.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\n{}")
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]


async def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    closing, aborting = RecordingTransport(), RecordingTransport()
    loop = asyncio.get_running_loop()
    first, second = CoalescingTransport(closing, loop), CoalescingTransport(aborting, loop)
    first.write(b"last response")
    first.close()
    second.write(b"never sent")
    second.abort()
    await asyncio.sleep(0)
    assert (closing.writes, closing.closed) == ([b"last response"], True)
    assert (aborting.writes, aborting.aborted) == ([], True)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_pipelined_requests_get_their_responses_in_order() -> None:
    """Through a real uvicorn on 127.0.0.1: two requests in one segment, two responses."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http=CoalescingHttp, lifespan="off", log_config=None)
    server = uvicorn.Server(config)

    async def scenario() -> bytes:
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
        received = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        server.should_exit = True
        await serving
        return received

    received = asyncio.run(scenario())
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b"/first") < received.index(b"/second")


async def test_writes_after_write_eof_are_dropped() -> None:
    """A connection refused (web/connection_limits.py) while a response was still owed:
    that response is not written after the sending side was shut."""

    class Shuttable(RecordingTransport):
        eof = False

        def write_eof(self) -> None:
            self.eof = True

    inner = Shuttable()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
    transport.write_eof()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"]
    assert inner.eof
