"""What each ``tollhouse serve --workers N`` process runs (web/workers.py's target).

Apart from web/asgi.py so that a worker's target loads only uvicorn and the log
writers: uvicorn then imports the app it is told to serve.
"""

from __future__ import annotations

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
from tollhouse.web.workers import START_FAILED

log = logging.getLogger("tollhouse.workers")


def serve_worker(options: dict[str, Any], sock: socket.socket, ready: Event) -> None:
    """One ``--workers`` process (web/workers.py): uvicorn on ``sock``, ``ready`` set once
    it serves, exit status ``START_FAILED`` if it never did."""
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
