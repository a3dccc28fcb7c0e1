"""Structured JSON log lines. Secrets, codes and tokens are never passed to a logger.

Every line goes to stderr, except the access log (logger ``tollhouse.access``) when
``TOLLHOUSE_ACCESS_LOG`` names a file: it is appended to there through one buffered
handle, and reopened on SIGHUP (hangup.py) so logrotate can move the file away.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from tollhouse.hangup import on_sighup

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
ACCESS_LOGGER = "tollhouse.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class ReopenableFileHandler(logging.FileHandler):
    """Appends to a file opened once; :meth:`reopen` (on SIGHUP) only marks it, and
    the next line written opens the path again, under the handler's lock, so a line
    is never written half to the old file. The check costs one attribute read per
    line, where logging's WatchedFileHandler costs a stat() per line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self._reopen = False

    def reopen(self) -> None:
        self._reopen = True

    def emit(self, record: logging.LogRecord) -> None:
        if self._reopen:
            self.acquire()
            try:
                self._reopen = False
                if self.stream is not None:
                    self.stream.close()
                self.stream = self._open()
            finally:
                self.release()
        super().emit(record)


def configure(level: str = "info", access_log: Path | None = None) -> None:
    """Log JSON lines to stderr at ``level``; the access log to ``access_log`` if given."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("tollhouse")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    access = logging.getLogger(ACCESS_LOGGER)
    for old in access.handlers:
        old.close()
    access.handlers.clear()
    access.propagate = True
    if access_log is None:
        # Nothing to reopen on stderr; registered all the same, so that SIGHUP sent
        # for logrotate never stops a server that has no file (nor TLS) to reload.
        on_sighup("access-log", lambda: None)
        return
    to_file = ReopenableFileHandler(access_log)
    to_file.setFormatter(JsonFormatter())
    access.handlers.append(to_file)
    access.propagate = False
    on_sighup("access-log", to_file.reopen)
