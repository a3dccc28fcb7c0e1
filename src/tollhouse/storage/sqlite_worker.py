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
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import OperationalError

from tollhouse.storage.sql_engine import apply_sqlite_pragmas, reachable

T = TypeVar("T")

LOCK_WAIT = 5.0
"""Seconds a unit waits for another process's write lock (as ``busy_timeout=5000``)."""
FIRST_PAUSE = 0.0002
MAX_PAUSE = 0.002
"""Pauses between attempts: doubling from 0.2 ms up to 2 ms."""
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
        """Run the unit; while another process holds the write lock, run it again after
        a short pause (the failed attempt rolled back), until :data:`LOCK_WAIT` is spent.

        SQLite's own busy handler would sleep 1, 2, 5, 10 … 100 ms between tries, so a
        writer that lost a race to another worker process idled for milliseconds after
        the lock was free; polling every 0.2 ms answers within a fraction of that.
        """
        deadline = time.monotonic() + LOCK_WAIT
        pause = FIRST_PAUSE
        while True:
            try:
                if write:
                    with self._engine.begin() as connection:
                        return work(connection)
                with self._engine.connect() as connection:
                    return work(connection)
            except OperationalError as exc:
                if not _locked(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._engine.dispose()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    apply_sqlite_pragmas(dbapi_connection)
    # Lock waits are retried by SqliteWorker._call, not slept through by SQLite.
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY: "database is locked" (or its table), also a stale read snapshot."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)
