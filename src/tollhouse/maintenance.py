"""Background housekeeping: expired rows are purged in bounded batches so tables stay
bounded (Hydra users report token tables of 100+ GB when nothing cleans up)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from tollhouse.clock import Clock

log = logging.getLogger("tollhouse.maintenance")

MAX_BATCHES_PER_RUN = 20


class Purgeable(Protocol):
    async def purge_expired(self, now: int, batch: int = 1000) -> int: ...


class Purger:
    def __init__(self, store: Purgeable, clock: Clock, *, interval: int, batch: int) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._batch = batch

    async def run_once(self) -> int:
        """Purge until a run removes less than a batch, at most MAX_BATCHES_PER_RUN times."""
        total = 0
        for _ in range(MAX_BATCHES_PER_RUN):
            removed = await self._store.purge_expired(self._clock.now(), self._batch)
            total += removed
            if removed < self._batch:
                break
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
