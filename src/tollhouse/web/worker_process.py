"""What each ``tollhouse serve --workers N`` process runs (web/workers.py's target).

Apart from web/asgi.py so that a worker's target loads only uvicorn and the log
writers: uvicorn then imports the app it is told to serve.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
import threading
import time
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn

from tollhouse.observability.access_log import ACCESS_LOG
from tollhouse.observability.json_lines import JSON_LINES
from tollhouse.security.shared_slots import SlotLease
from tollhouse.web.workers import START_FAILED

log = logging.getLogger("tollhouse.workers")
FACTORY = "tollhouse.web.asgi:from_environment"
"""The app as uvicorn's options name it (``factory=True``)."""


def serve_worker(
    options: dict[str, Any], sock: socket.socket, ready: Event, slots: SlotLease | None
) -> None:
    """One ``--workers`` process (web/workers.py): uvicorn on ``sock``, ``ready`` set once
    it serves, exit status ``START_FAILED`` if it never did. The app factory is given
    ``slots``, the server's password-check slots shared by every worker."""
    if slots is not None and options.get("app") == FACTORY:
        from tollhouse.web.asgi import from_environment  # the app, only when it is ours

        options = {**options, "app": functools.partial(from_environment, slots)}
    server = uvicorn.Server(uvicorn.Config(**options))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=announce, name="tollhouse-ready", daemon=True).start()
    try:
        server.run(sockets=[sock])
    except SystemExit:
        pass  # uvicorn's own exit on a failed start-up: judged below
    except Exception:
        if server.started:
            raise
        log.exception("Worker failed to start")
    finally:
        ACCESS_LOG.drain()  # a worker process ends without atexit
        JSON_LINES.flush()
    if not server.started:
        sys.exit(START_FAILED)
