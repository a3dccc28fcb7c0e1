"""The access log: one JSON line per request, written off the request path.

The line is the one the ``logging`` module wrote (``logs.JsonFormatter``): ``ts``,
``level``, ``logger``, ``msg``, then ``request_id``, ``method``, ``path``, ``status``,
``ms``, ``client`` and, for a status of 400 or more, ``error``; compact, ASCII only,
each value as ``json.dumps`` writes it. It is built here from constant parts and the
values, without a ``LogRecord``, a handler lock or a flush per request.

Lines wait in memory and leave in one write per event-loop pass (``call_soon`` once per
batch), in writes of whole lines (log_sinks.py). A destination that takes nothing
(a full pipe nobody reads) never makes a request wait: lines wait, up to
``buffer_bytes``; past that each line is dropped and counted
(``tollhouse_access_log_dropped_total``), and once the destination takes lines again
one line says how many were dropped, where they would have been. The server drains
what is left when it stops (:meth:`AccessLog.drain`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Literal

from tollhouse.observability import metrics
from tollhouse.observability.log_sinks import Sink

ACCESS_LOGGER = "tollhouse.access"
ACCESS_LOG_OFF: Literal["off"] = "off"
"""``TOLLHOUSE_ACCESS_LOG=off``: the access log alone is off, as nginx's ``access_log
off`` or uvicorn's ``--no-access-log``; ``TOLLHOUSE_LOG_LEVEL=warning`` would silence the
audit trail's ``info`` lines (``token_issued``, ``login_success``) with it."""
DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024
RETRY_DELAY = 0.1
"""Seconds between attempts while the destination takes nothing."""
PASS_BYTES = 256 * 1024
"""Most bytes written in one event-loop pass; a backlog leaves over several."""
QUOTED_CACHE = 1024
QUOTED_LENGTH = 256
"""Values longer than this (a client's odd path) are not remembered."""
DRAIN_TIMEOUT = 2.0
"""Longest a stopping server waits for a stalled destination."""

_REQUEST = ',"level":"info","logger":"tollhouse.access","msg":"request","request_id":'


def json_string(value: object) -> str:
    """``value`` as ``json.dumps(value, default=str)`` writes it. Most values are printable
    ASCII without a quote or backslash, which need no escaping; the short methods, paths
    and client addresses seen are remembered (a bounded cache), since they repeat."""
    if type(value) is not str:
        return json.dumps(value, default=str)
    quoted = _quoted.get(value)
    if quoted is None:
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            quoted = f'"{value}"'
        else:
            quoted = json.dumps(value)
        if len(value) <= QUOTED_LENGTH:
            if len(_quoted) >= QUOTED_CACHE:
                _quoted.clear()
            _quoted[value] = quoted
    return quoted


_quoted: dict[str, str] = {}


def decimal(value: float, places: str) -> str:
    """``repr(round(value, n))`` (what ``json.dumps`` writes) for ``places`` ``".{n}f"``,
    for the magnitudes logged (timestamps, milliseconds): both are the correctly rounded
    decimal, and with 15 significant digits or fewer its shortest form is itself
    without trailing zeros. Formatting costs half as much as rounding."""
    text = format(value, places).rstrip("0")
    return text + "0" if text[-1] == "." else text


def request_line(
    ts: float,
    request_id: str,
    method: object,
    path: object,
    status: int,
    seconds: float,
    client: object,
    error: str | None,
) -> str:
    """One request's line, newline included; ``error`` is written for a status ≥ 400.
    ``request_id`` is ours (url-safe characters and a dot): it needs no escaping."""
    line = (
        f'{{"ts":{decimal(ts, ".3f")}{_REQUEST}"{request_id}","method":{json_string(method)},'
        f'"path":{json_string(path)},"status":{status:d},"ms":{decimal(seconds * 1000, ".2f")},'
        f'"client":{json_string(client)}'
    )
    if status >= 400:
        return f'{line},"error":{json_string(error)}}}\n'
    return line + "}\n"


def dropped_line(ts: float, count: int) -> str:
    """The line that marks where ``count`` lines were dropped."""
    return (
        f'{{"ts":{decimal(ts, ".3f")},"level":"warning","logger":"tollhouse.access",'
        f'"msg":"{count} access log lines dropped","dropped":{count}}}\n'
    )


class AccessLog:
    """The process's access log writer (:data:`ACCESS_LOG`), set up by ``logs.configure``.

    Called on the event loop's thread only; SIGHUP (``reopen``) only sets a flag."""

    def __init__(self) -> None:
        self.enabled = False
        self._sink: Sink | None = None
        self._limit = DEFAULT_BUFFER_BYTES
        self._lines: list[str] = []
        self._out = bytearray()  # joined lines, not yet (wholly) written
        self._size = 0  # bytes in _lines and _out
        self._dropped = 0
        self._scheduled: asyncio.AbstractEventLoop | None = None
        self._reopen = False

    def configure(self, sink: Sink | None, *, enabled: bool, buffer_bytes: int) -> None:
        """Write to ``sink`` from now on; what the previous sink still had is drained to it
        first."""
        if self._sink is not None:
            self.drain()
            self._sink.close()
        self._sink = sink
        self.enabled = enabled and sink is not None
        self._limit = buffer_bytes

    def reopen(self) -> None:
        """Open the file again before the next write (SIGHUP, for logrotate)."""
        self._reopen = True

    def request(
        self,
        request_id: str,
        method: object,
        path: object,
        status: int,
        seconds: float,
        client: object,
        error: str | None,
    ) -> None:
        """Log one request: ``seconds`` it took, ``error`` its RFC error code (status ≥ 400)."""
        self.write(
            request_line(time.time(), request_id, method, path, status, seconds, client, error)
        )

    def write(self, line: str) -> None:
        """Queue ``line`` (whole, newline included), or count it dropped when the buffer is
        full."""
        size = self._size + len(line)
        if size > self._limit:
            self._dropped += 1
            metrics.access_log_dropped()
            return
        if self._dropped:
            self._mark_dropped()
            size = self._size + len(line)
        self._lines.append(line)
        self._size = size
        if self._scheduled is None:
            self._schedule(0)

    def _mark_dropped(self) -> None:
        line = dropped_line(time.time(), self._dropped)
        self._dropped = 0
        self._lines.append(line)
        self._size += len(line)

    def _schedule(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a command, a test): write now
            self._flush()
            return
        self._scheduled = loop
        if delay:
            loop.call_later(delay, self._flush)
        else:
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = None
        try:
            self._write(PASS_BYTES)
        except (OSError, ValueError):  # nothing taken now (a full pipe), an error: retry
            self._schedule(RETRY_DELAY)
            return
        if self._size or self._dropped:
            self._schedule(0)

    def _write(self, budget: int) -> None:
        """Write whole lines, up to about ``budget`` bytes, in writes of at most the
        sink's ``atomic`` bytes (a line longer than that alone)."""
        sink = self._sink
        if sink is None:
            return
        if self._reopen:
            self._reopen = False
            sink.reopen()
        out = self._out
        while budget > 0:
            if not out:
                if not self._lines and self._dropped:
                    self._mark_dropped()  # the destination took everything before the gap
                if not self._lines:
                    return
                out += "".join(self._lines).encode()
                self._lines.clear()
            end = len(out)
            if end > sink.atomic:
                end = out.rfind(b"\n", 0, sink.atomic) + 1 or out.find(b"\n") + 1 or end
            with memoryview(out) as view, view[:end] as chunk:
                written = sink.write(chunk)
            if not written:
                raise BlockingIOError  # taken nothing: as a full pipe
            del out[:written]
            self._size -= written
            budget -= written

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Write everything waiting (the server is stopping), retrying a stalled
        destination for up to ``timeout`` seconds; what is still left then is counted
        dropped, with nowhere left to say so."""
        deadline = time.monotonic() + timeout
        while self._sink is not None and (self._size or self._dropped):
            try:
                self._write(self._size + PASS_BYTES)
            except (OSError, ValueError):
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)  # a stopping server: nothing else waits for the loop
        left = len(self._lines) + self._out.count(b"\n")
        for _ in range(left):
            metrics.access_log_dropped()
        self._lines.clear()
        self._out.clear()
        self._size = 0
        self._dropped = 0
        self._scheduled = None  # a pass still due on a loop that may not run again

    def pending(self) -> int:
        """Bytes waiting to be written."""
        return self._size


ACCESS_LOG = AccessLog()
