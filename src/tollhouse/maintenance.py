"""Background housekeeping: expired rows are purged in bounded batches so tables stay
bounded (token tables grow without limit when nothing cleans up)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from tollhouse.clock import Clock

log = logging.getLogger("tollhouse.maintenance")

MAX_BATCHES_PER_RUN = 10_000
"""A bound on one run, far above any backlog one interval leaves."""

DUTY = 0.2
"""Where every write queues for one writer (SQLite), the share of time a run spends
deleting while a backlog lasts: after each full batch it rests four times as long as
the batch took, so grants get the writer between batches."""

MAX_REST = 0.1
"""The longest rest after one batch, in seconds. A batch's wall time includes the time
its task waited for the event loop, which under load is much longer than the delete
itself; an unbounded rest would then let grants insert faster than the purge deletes."""


class Purgeable(Protocol):
    @property
    def shares_writer(self) -> bool: ...

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int: ...


class Purger:
    def __init__(self, store: Purgeable, clock: Clock, *, interval: int, batch: int) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._batch = batch

    async def run_once(self) -> int:
        """Purge every table until its batch removes less than ``batch`` rows.

        After the first pass only the tables with a backlog are visited, so a run drains
        the busy table instead of querying every table per batch. Between batches the
        run yields to other tasks: with a shared writer (SQLite) it rests to :data:`DUTY`,
        at most :data:`MAX_REST`; otherwise (PostgreSQL, whose deletes lock only the
        expired rows they take) it only yields the event loop.
        """
        total = 0
        drained: set[str] = set()
        for _ in range(MAX_BATCHES_PER_RUN):
            started = time.monotonic()
            removed = await self._store.purge_expired(
                self._clock.now(), self._batch, drained=drained
            )
            total += removed
            if removed < self._batch:
                break
            await asyncio.sleep(self._rest(time.monotonic() - started))
        if total:
            log.info("expired rows purged", extra={"event": "purge", "rows": total})
        return total

    def _rest(self, took: float) -> float:
        if not self._store.shares_writer:
            return 0.0
        return min(took * (1 - DUTY) / DUTY, MAX_REST)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("purge failed; retrying after the next interval")
