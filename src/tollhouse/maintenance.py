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
"""A bound on one run, far above any backlog the pacing below can meet in an interval."""

DUTY = 0.2
"""The share of time a run spends deleting while a backlog lasts: after each batch it
rests four times as long as the batch took. On SQLite every write goes through one
writer, so grants get the writer between batches instead of queueing behind a long
run of deletes, while a run still deletes far faster than sustained grants insert (a
fixed number of batches per interval fell behind them; bench/RESULTS.md)."""


class Purgeable(Protocol):
    async def purge_expired(self, now: int, batch: int = 1000) -> int: ...


class Purger:
    def __init__(self, store: Purgeable, clock: Clock, *, interval: int, batch: int) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._batch = batch

    async def run_once(self) -> int:
        """Purge until a batch removes less than ``batch`` rows, paced to :data:`DUTY`."""
        total = 0
        for _ in range(MAX_BATCHES_PER_RUN):
            started = time.monotonic()
            removed = await self._store.purge_expired(self._clock.now(), self._batch)
            total += removed
            if removed < self._batch:
                break
            await asyncio.sleep((time.monotonic() - started) * (1 - DUTY) / DUTY)
        if total:
            log.info("expired rows purged", extra={"event": "purge", "rows": total})
        return total

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("purge failed; retrying after the next interval")
