"""SQLite store calls on threads of their own: one hand-off per call, not per statement.

Through the async engine (aiosqlite), every statement, ``BEGIN``, ``COMMIT`` and
connection checkout is its own trip to aiosqlite's thread and back, with SQLAlchemy's
greenlet in between: about 0.5 ms of CPU for a one-row insert on the benchmark machine,
where one thread hand-off costs about 80 µs (bench/RESULTS.md). Here a store call's
whole transaction is one plain function on a synchronous connection, run in a small
thread pool: one hand-off per call. The event loop never touches the file, so a
writer waiting out another process's lock (``busy_timeout``) or a checkpoint's
``fsync`` delays only its own request.

The rules are the async engine's: same file, same pragmas (sql_engine.py), the
sqlite3 module's transaction handling, errors mapped by ``reachable()`` (a lock held
past the busy timeout is ``StorageUnavailable``, 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event

from tollhouse.storage.sql_engine import apply_sqlite_pragmas, reachable

T = TypeVar("T")

READERS = 3
"""Reading threads (and connections) per process: reads go on while a write waits."""


class SqliteWorker:
    """Writes on one thread, reads on :data:`READERS` others.

    SQLite lets one writer in at a time, and a second writer in the same process would
    not queue for the lock: it would sleep in SQLite's busy handler (1, 2, 5, 10 … ms),
    which is where the long tails of concurrent grants came from. One writing thread per
    process makes this process's writes a queue; only other processes can make it wait.
    """

    def __init__(self, path: Path, readers: int = READERS) -> None:
        self._engine = create_engine(
            f"sqlite:///{path}", pool_size=readers + 1, max_overflow=0, pool_timeout=30
        )
        event.listen(self._engine, "connect", _on_connect)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tollhouse-sqlite-write")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tollhouse-sqlite-read")

    async def run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work(connection)`` in one transaction, committed when ``write``."""
        loop = asyncio.get_running_loop()
        executor = self._writer if write else self._readers
        async with reachable():
            return await loop.run_in_executor(executor, self._call, work, write)

    def _call(self, work: Callable[[Connection], T], write: bool) -> T:
        if write:
            with self._engine.begin() as connection:
                return work(connection)
        with self._engine.connect() as connection:
            return work(connection)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._engine.dispose()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    apply_sqlite_pragmas(dbapi_connection)
