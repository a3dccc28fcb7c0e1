"""Log lines written without the ``logging`` module's per-record machinery, for the
lines that come with nearly every request (the audit trail's ``token issued``).

A line is the one ``logs.JsonFormatter`` writes for the same record — ``ts``, ``level``,
``logger``, ``msg``, then the fields in order — built without a ``LogRecord``, a
filter call, a formatter and a handler lock per line. Lines written during one
event-loop pass leave in one write and one flush to the handler's stream, under its
lock (``call_soon`` once per batch); the stream is written as ``logging`` writes it
(blocking), so no line is ever dropped. The fast path is taken only while the logger
writes to exactly the handler ``logs.configure`` installed (no handler or filter added
since, e.g. by a test); otherwise the line goes through ``logging`` as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

ROOT = "tollhouse"
STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}
"""Names ``logging`` refuses in ``extra`` (``Logger.makeRecord``): such a line takes the
slow path, which reports the refusal as it always did."""

_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
"""What ``json.dumps(line, default=str, separators=…)`` uses, made once: with arguments
``json.dumps`` builds a new encoder per call, which costs more than the encoding."""


class JsonLines:
    """The process's fast line writer (:data:`JSON_LINES`), set up by ``logs.configure``.
    Lines written on an event loop leave at the end of its pass; with no loop running
    (a command, another thread), at once."""

    def __init__(self) -> None:
        self._handler: logging.StreamHandler[Any] | None = None
        self._root = logging.getLogger(ROOT)
        self._lines: list[str] = []
        self._lock = threading.Lock()  # an emitting thread without a loop writes at once
        self._scheduled: asyncio.AbstractEventLoop | None = None

    def use(self, handler: logging.StreamHandler[Any] | None) -> None:
        """Write through ``handler`` (the JSON stderr handler) from now on."""
        self.flush()
        self._handler = handler

    def accepts(self, logger: logging.Logger, filters: int) -> bool:
        """Whether ``logger``'s lines (it has ``filters`` filters of its own, which the
        caller applies itself) reach only the installed handler, unfiltered."""
        handlers = self._root.handlers
        handler = self._handler
        return (
            handler is not None
            and len(handlers) == 1
            and handlers[0] is handler
            and not handler.filters
            and not self._root.filters
            and not logger.handlers
            and len(logger.filters) == filters
            and logger.propagate
            and logger.parent is self._root
        )

    def write(self, level: str, logger: str, message: str, fields: dict[str, Any]) -> None:
        """Queue the line for ``message`` with ``fields`` (none of them in
        :data:`STANDARD`), as ``JsonFormatter`` would write it."""
        line: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": level,
            "logger": logger,
            "msg": message,
        }
        line.update(fields)
        text = _ENCODER.encode(line) + "\n"
        with self._lock:
            self._lines.append(text)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a command, a test): write now
            self.flush()
            return
        if self._scheduled is not loop:  # once per pass (and per loop: a test's may close)
            self._scheduled = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the waiting lines (once per loop pass; also when the server stops)."""
        with self._lock:
            self._scheduled = None
            if not self._lines:
                return
            text = "".join(self._lines)
            self._lines = []
        handler = self._handler
        if handler is None:
            return
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": text}))
        finally:
            handler.release()


JSON_LINES = JsonLines()
