"""The ASGI apps tests/web/test_workers.py runs in its worker processes.

Apart from the test module so that each spawned worker imports only this (and
web/asgi.py for its target), not pytest and httpx as well.
"""

from __future__ import annotations

import os
from typing import Any


async def never_starts(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app whose start-up fails (its database is down, say)."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})


async def serves(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with its worker's process id."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
