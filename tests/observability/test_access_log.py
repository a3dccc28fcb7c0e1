"""The access log writer: the line the ``logging`` module wrote, byte for byte; one write
per event-loop pass of whole lines; a destination that stalls costs lines (counted and
marked), never a wait."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import select
from collections.abc import Iterator

import pytest

from tollhouse.logs import JsonFormatter
from tollhouse.observability import access_log
from tollhouse.observability.access_log import (
    ACCESS_LOGGER,
    RETRY_DELAY,
    AccessLog,
    decimal,
    json_string,
    request_line,
)
from tollhouse.observability.log_sinks import DescriptorSink
from tollhouse.observability.metrics import REGISTRY
from tollhouse.web.request_context import RequestIds

LIMIT = 65536


def logged_before(
    ts: float,
    request_id: str,
    method: object,
    path: object,
    status: int,
    elapsed: float,
    client: object,
    oauth_error: str | None,
) -> str:
    """The line as ``RequestContext._log`` handed it to the ``logging`` module, formatted
    by :class:`JsonFormatter`: the reference the writer must match."""
    line: dict[str, object] = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "ms": round(elapsed * 1000, 2),
        "client": client,
    }
    if status >= 400:
        line["error"] = oauth_error or ("server_error" if status >= 500 else None)
    record = logging.getLogger(ACCESS_LOGGER).makeRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "request", (), None, extra=line
    )
    record.created = ts
    return JsonFormatter().format(record) + "\n"


def written_now(
    ts: float,
    request_id: str,
    method: object,
    path: object,
    status: int,
    elapsed: float,
    client: object,
    oauth_error: str | None,
) -> str:
    """The same request through the writer's line, with the error ``close`` passes."""
    error = oauth_error or ("server_error" if status >= 500 else None) if status >= 400 else None
    return request_line(ts, request_id, method, path, status, elapsed, client, error)


ODD_PATHS = [
    "/token",
    "/café",
    '/"quoted"',
    "/back\\slash",
    "/new\nline\ttab\r\x00\x1f",
    "/del\x7f",
    "/\u2028\u2029",
    "/emoji\U0001f511",
    "/\ud800",  # a lone surrogate: json.dumps escapes it
    "",
]


@pytest.mark.parametrize("path", ODD_PATHS)
@pytest.mark.parametrize(
    ("status", "oauth_error"),
    [
        (200, None),
        (303, None),
        (401, "invalid_client"),
        (404, None),
        (429, "slow_down"),
        (500, None),
        (503, "temporarily_unavailable"),
    ],
)
def test_a_line_is_what_the_logging_module_wrote(
    path: str, status: int, oauth_error: str | None
) -> None:
    args = (
        1767225600.1239,
        "Ab3_-x.1f",
        "POST",
        path,
        status,
        0.0123456,
        "203.0.113.7",
        oauth_error,
    )
    assert written_now(*args) == logged_before(*args)


@pytest.mark.parametrize(
    ("method", "client"),
    [("GET", ""), (None, None), ("M\u00e9", "::1"), ("HEAD", "2001:db8::1")],
)
def test_values_that_are_missing_or_unusual_are_written_as_before(
    method: object, client: object
) -> None:
    args = (1767225600.0, "a.1", method, "/jwks.json", 200, 0.0, client, None)
    assert written_now(*args) == logged_before(*args)


def test_request_ids_need_no_escaping() -> None:
    """``request_line`` writes the request id between quotes as it is."""
    ids = RequestIds()
    for _ in range(50):
        ids.reset()
        request_id = ids.next()
        assert f'"{request_id}"' == json.dumps(request_id)


def test_a_long_value_is_written_right_and_not_remembered() -> None:
    path = "/" + "a" * 10_000
    assert json_string(path) == json.dumps(path)
    assert json_string(path + '"') == json.dumps(path + '"')
    assert path not in access_log._quoted


def test_timestamps_and_milliseconds_are_rounded_and_written_as_json_dumps_does() -> None:
    draw = random.Random(22)
    times = [draw.uniform(1.6e9, 2.2e9) for _ in range(20000)]
    times += [1767225600.0, 1767225600.0005, 1767225600.9995, 1767225600.1, 2e9 + 0.125]
    for ts in times:
        assert decimal(ts, ".3f") == json.dumps(round(ts, 3))
    elapsed = [draw.expovariate(100) for _ in range(20000)] + [0.0, 1e-9, 0.000005, 3600.0]
    for seconds in elapsed:
        assert decimal(seconds * 1000, ".2f") == json.dumps(round(seconds * 1000, 2))


class Counting(DescriptorSink):
    """A real descriptor, with each write's bytes kept for the test to look at."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, select.PIPE_BUF, owned=False)
        self.writes: list[bytes] = []

    def write(self, data: memoryview) -> int:
        written = super().write(data)
        self.writes.append(bytes(data[:written]))
        return written


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe whose write end does not block (as the writer's own stderr description)."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    os.set_blocking(read, False)
    yield read, write
    os.close(read)
    os.close(write)


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


def dropped_total() -> float:
    return REGISTRY.get_sample_value("tollhouse_access_log_dropped_total") or 0.0


def line(n: int) -> str:
    return json.dumps({"n": n, "pad": "x" * 150}) + "\n"


async def test_the_lines_of_one_pass_leave_together_in_whole_lines_of_at_most_pipe_buf(
    pipe: tuple[int, int],
) -> None:
    read, write = pipe
    sink = Counting(write)
    writer = AccessLog()
    writer.configure(sink, enabled=True, buffer_bytes=LIMIT)
    for n in range(3):
        writer.write(line(n))
    assert sink.writes == []  # not on the request's path
    await asyncio.sleep(0)
    assert sink.writes == [b"".join(line(n).encode() for n in range(3))]

    sink.writes.clear()
    for n in range(100):  # about four PIPE_BUFs
        writer.write(line(n))
    await asyncio.sleep(0)
    assert len(sink.writes) > 1
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in sink.writes)
    read_all(read)


async def test_a_stalled_pipe_costs_counted_lines_and_a_marked_gap_never_a_wait(
    pipe: tuple[int, int],
) -> None:
    read, write = pipe
    writer = AccessLog()
    writer.configure(
        DescriptorSink(write, select.PIPE_BUF, owned=False), enabled=True, buffer_bytes=LIMIT
    )
    before = dropped_total()
    n = 0
    loop = asyncio.get_running_loop()
    while dropped_total() - before < 50 and n < 5000:  # the pipe, then the buffer, fill up
        started = loop.time()
        for _ in range(20):
            writer.write(line(n))
            n += 1
        await asyncio.sleep(0)
        assert loop.time() - started < 1  # nothing waited for the pipe
    dropped = dropped_total() - before
    assert dropped >= 50 and writer.pending() <= LIMIT

    received = read_all(read)  # the reader comes back
    for _ in range(200):
        await asyncio.sleep(RETRY_DELAY / 4)
        received += read_all(read)
        if writer.pending() == 0 and b'"dropped":' in received:
            break
    lines = [json.loads(raw) for raw in received.splitlines()]
    numbers = [entry["n"] for entry in lines if "n" in entry]
    notices = [entry for entry in lines if "dropped" in entry]
    assert len(notices) == 1 and notices[0]["dropped"] == dropped
    assert notices[0]["msg"] == f"{int(dropped)} access log lines dropped"
    assert notices[0]["logger"] == "tollhouse.access" and notices[0]["level"] == "warning"
    assert numbers == list(range(len(numbers)))  # whole, in order, up to the gap
    assert len(numbers) + dropped == n


async def test_lines_after_the_gap_follow_its_mark(pipe: tuple[int, int]) -> None:
    read, write = pipe
    writer = AccessLog()
    writer.configure(
        DescriptorSink(write, select.PIPE_BUF, owned=False), enabled=True, buffer_bytes=LIMIT
    )
    before = dropped_total()
    n = 0
    while dropped_total() == before:
        writer.write(line(n))
        n += 1
        if n % 20 == 0:
            await asyncio.sleep(0)
    received = read_all(read)
    await asyncio.sleep(RETRY_DELAY * 1.5)  # room again: the backlog leaves
    received += read_all(read)
    writer.write(line(10**6))  # a line after the gap
    for _ in range(100):
        await asyncio.sleep(RETRY_DELAY / 4)
        received += read_all(read)
        if received.endswith(b"1000000" + b', "pad": "' + b"x" * 150 + b'"}\n'):
            break
    tail = [json.loads(raw) for raw in received.splitlines()][-2:]
    assert tail[0]["dropped"] == dropped_total() - before
    assert tail[1]["n"] == 10**6


async def test_draining_writes_what_waits_and_counts_what_a_dead_pipe_cannot_take(
    pipe: tuple[int, int],
) -> None:
    read, write = pipe
    writer = AccessLog()
    writer.configure(
        DescriptorSink(write, select.PIPE_BUF, owned=False), enabled=True, buffer_bytes=LIMIT
    )
    writer.write(line(1))
    writer.drain()  # before the pass ran
    assert read_all(read) == line(1).encode()

    while writer.pending() < LIMIT // 2:  # stalled, with lines waiting
        writer.write(line(2))
        await asyncio.sleep(0)
    waiting = writer.pending() // len(line(2))
    before = dropped_total()
    writer.drain(timeout=0.05)
    assert writer.pending() == 0
    assert dropped_total() - before >= waiting
    read_all(read)


def test_without_an_event_loop_a_line_is_written_at_once(pipe: tuple[int, int]) -> None:
    read, write = pipe
    writer = AccessLog()
    writer.configure(
        DescriptorSink(write, select.PIPE_BUF, owned=False), enabled=True, buffer_bytes=LIMIT
    )
    writer.write(line(7))
    assert read_all(read) == line(7).encode()
