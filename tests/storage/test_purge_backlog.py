"""A backlog of expired records is drained by one purge run, on SQLite and PostgreSQL,
while other tasks keep running and live rows stay."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.storage import records as make
from tests.storage.conftest import empty_tables
from tests.storage.records import NOW
from tollhouse.clock import FrozenClock
from tollhouse.maintenance import Purger
from tollhouse.storage.sql.storage import EXPIRING, SqlStorage, open_storage

EXPIRED = 20_000
LIVE = 300
BATCH = 500


class _Counted:
    """The real store, with every purge call counted."""

    def __init__(self, store: SqlStorage) -> None:
        self.store = store
        self.visited: list[int] = []
        """How many tables each call was to visit."""

    @property
    def shares_writer(self) -> bool:
        return self.store.shares_writer

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int:
        self.visited.append(len(EXPIRING) - len(drained or ()))
        return await self.store.purge_expired(now, batch, drained=drained)


async def _seed(storage: SqlStorage) -> None:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    await storage.add_family(make.family())
    for start in range(0, EXPIRED, 2_000):
        await storage.record_access_tokens(
            [make.access_token(f"old-{n}", expires_at=NOW) for n in range(start, start + 2_000)]
        )
    await storage.record_access_tokens(
        [make.access_token(f"live-{n}", expires_at=NOW + 3_600) for n in range(LIVE)]
    )


async def _access_tokens(storage: SqlStorage) -> tuple[int, int]:
    async with storage.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT jti LIKE 'live-%', count(*) FROM access_tokens GROUP BY 1")
        )
        found = {bool(live): count for live, count in rows}
    return found.get(False, 0), found.get(True, 0)


async def test_one_run_drains_a_backlog_yielding_between_batches(
    sql_storage: SqlStorage,
) -> None:
    await _seed(sql_storage)
    counted = _Counted(sql_storage)
    purger = Purger(counted, FrozenClock(NOW + 1), interval=60, batch=BATCH)
    ticks = 0
    stop = asyncio.Event()

    async def other_task() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_task())
    try:
        removed = await purger.run_once()
    finally:
        stop.set()
        await ticker
    assert removed == EXPIRED
    assert await _access_tokens(sql_storage) == (0, LIVE)
    # Every table once, then only the busy one: 40 full batches and one short.
    assert counted.visited == [len(EXPIRING)] + [1] * (EXPIRED // BATCH)
    # The other task ran between every two batches.
    assert ticks >= EXPIRED // BATCH


async def test_two_servers_purging_at_once_delete_each_row_once(sql_url: str) -> None:
    first, second = await open_storage(sql_url), await open_storage(sql_url)
    try:
        if first.engine.dialect.name == "postgresql":
            await empty_tables(first)
        await _seed(first)
        clock = FrozenClock(NOW + 1)
        removed = await asyncio.gather(
            Purger(first, clock, interval=60, batch=BATCH).run_once(),
            Purger(second, clock, interval=60, batch=BATCH).run_once(),
        )
        # A run stops at its first short batch, which the other's skipped rows can cause.
        rest = await Purger(first, clock, interval=60, batch=BATCH).run_once()
        assert sum(removed) + rest == EXPIRED
        assert await _access_tokens(first) == (0, LIVE)
    finally:
        await first.close()
        await second.close()
