"""Structured JSON log lines. Secrets, codes and tokens are never passed to a logger.

Every line goes to stderr through the ``logging`` module's handler, the audit trail's
without a ``LogRecord`` while that handler is the only one (observability/json_lines.py),
except the access log (``"logger":"tollhouse.access"``): it has a writer of its own
(observability/access_log.py), to stderr or to the file ``TOLLHOUSE_ACCESS_LOG`` names,
reopened on SIGHUP (hangup.py) so logrotate can move the file away, or nowhere
(``TOLLHOUSE_ACCESS_LOG=off``).
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
from pathlib import Path
from typing import Any, Literal

from tollhouse.hangup import on_sighup
from tollhouse.observability.access_log import (
    ACCESS_LOG,
    ACCESS_LOG_OFF,
    ACCESS_LOGGER,
    DEFAULT_BUFFER_BYTES,
)
from tollhouse.observability.json_lines import JSON_LINES
from tollhouse.observability.log_sinks import FileSink, Sink, stderr_sink

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


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


def configure(
    level: str = "info",
    access_log: Path | Literal["off"] | None = None,
    access_log_buffer: int = DEFAULT_BUFFER_BYTES,
) -> None:
    """Log JSON lines to stderr at ``level``; the access log (at ``info``) to
    ``access_log`` if given, nowhere if it is ``off``, else to stderr, holding up to
    ``access_log_buffer`` bytes while its destination stalls."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("tollhouse")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    JSON_LINES.use(handler)
    atexit.unregister(JSON_LINES.flush)
    atexit.register(JSON_LINES.flush)
    enabled = logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)
    sink: Sink | None = None  # off: nothing written, nothing opened
    if isinstance(access_log, Path):
        sink = FileSink(access_log)
    elif access_log != ACCESS_LOG_OFF:
        sink = stderr_sink(sys.stderr)
    ACCESS_LOG.configure(sink, enabled=enabled, buffer_bytes=access_log_buffer)
    # Registered without a file (or with the log off) too, so that SIGHUP sent for
    # logrotate never stops a server that has nothing to reopen (nor TLS to reload).
    on_sighup("access-log", ACCESS_LOG.reopen)
    # The last lines of a server stopped by SIGTERM (a ``--workers`` process, which
    # skips atexit, drains in web/asgi.py).
    atexit.unregister(ACCESS_LOG.drain)
    atexit.register(ACCESS_LOG.drain)
