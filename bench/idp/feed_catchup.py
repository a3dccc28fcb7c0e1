"""A resource server's ``RevocationFeed`` catching up from zero over the seeded
revocation list: wall and CPU time until its cursor reaches the newest entry, the
entries it then holds, and its memory (peak traced by ``tracemalloc`` in a second
catch-up, since tracing slows Python down; and the process's peak RSS)."""

from __future__ import annotations

import resource
import time
import tracemalloc
from typing import Any

from tollhouse.resource.feed import RevocationFeed

MAX_POLLS = 10_000


def _catch_up(base: str, client_id: str, secret: str, last_seq: int) -> dict[str, Any]:
    feed = RevocationFeed(base, client_id, secret, interval=3600)
    started, cpu = time.perf_counter(), time.process_time()
    polls = 0
    try:
        for polls in range(1, MAX_POLLS + 1):  # noqa: B007 -- reported below
            if not feed.poll():
                raise RuntimeError(f"feed poll failed: {feed.last_error}")
            # The cursor is the feed's own; reaching the newest seq means caught up.
            if int(feed._cursor or 0) >= last_seq:
                break
        return {
            "seconds": round(time.perf_counter() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "polls": polls,
            "entries": len(feed),
        }
    finally:
        feed.stop()


def measure(base: str, client_id: str, secret: str, last_seq: int) -> dict[str, Any]:
    timed = _catch_up(base, client_id, secret, last_seq)
    tracemalloc.start()
    try:
        traced = _catch_up(base, client_id, secret, last_seq)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        **timed,
        "entries_traced_run": traced["entries"],
        "peak_traced_mib": round(peak / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
