"""SQLite store calls on threads of their own: one hand-off per call, not per statement.

Through the async engine (aiosqlite), every statement, ``BEGIN``, ``COMMIT`` and
connection checkout is its own trip to aiosqlite's thread and back, with SQLAlchemy's
greenlet in between, and those trips cost several times what one thread hand-off does
(bench/RESULTS.md). Here a store call's whole transaction is one plain function on a
synchronous connection, run in a small thread pool: one hand-off per call. The event
loop never touches the file, so a writer waiting out another process's lock
(``busy_timeout``) or a checkpoint's ``fsync`` delays only its own request.

The rules are the async engine's: same file, same pragmas (engine.py), the
sqlite3 module's transaction handling, errors mapped by ``reachable()`` (a lock held
past the busy timeout is ``StorageUnavailable``, 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from asyncio import AbstractEventLoop
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import OperationalError

from tollhouse.storage.sql.engine import apply_sqlite_pragmas, as_unavailable

T = TypeVar("T")

LOCK_WAIT = 5.0
"""Seconds a unit waits for another process's write lock (as ``busy_timeout=5000``)."""
FIRST_PAUSE = 0.0002
MAX_PAUSE = 0.002
"""Pauses between attempts: doubling from 0.2 ms up to 2 ms."""
READERS = 3
"""Reading threads (and connections) per process: reads go on while a write waits."""
MAX_BATCH = 64
"""Write units committed together at most (see :meth:`SqliteWorker._write_batch`)."""


class SqliteWorker:
    """Writes on one thread, reads on :data:`READERS` others.

    SQLite lets one writer in at a time, and a second writer in the same process would
    not queue for the lock: it would sleep in SQLite's busy handler (1, 2, 5, 10 … ms),
    which is where the long tails of concurrent grants came from. One writing thread per
    process makes this process's writes a queue; only other processes can make it wait.

    The units waiting in that queue when the writer gets to them are committed together
    (group commit): a commit writes every page the transaction changed to the WAL, and
    concurrent grants change the same table and index pages, so one commit for many
    units writes a fraction of the pages (a code exchange is two or three write units).
    """

    def __init__(self, path: Path, readers: int = READERS) -> None:
        self._engine = create_engine(
            f"sqlite:///{path}", pool_size=readers + 1, max_overflow=0, pool_timeout=30
        )
        event.listen(self._engine, "connect", _on_connect)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tollhouse-sqlite-write")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tollhouse-sqlite-read")
        self._queue: deque[_WriteUnit] = deque()
        self._queue_lock = threading.Lock()
        self._draining = False

    async def run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work(connection)`` in one transaction, committed when ``write``; a write's
        result is returned once it is committed. An unreachable database is
        ``StorageUnavailable`` (as ``engine.reachable()``, without its generator)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        if not write:
            self._readers.submit(self._read, work, loop, done)
        else:
            with self._queue_lock:
                self._queue.append((work, loop, done))
                start, self._draining = not self._draining, True
            if start:
                self._writer.submit(self._drain)
        try:
            return await done
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def _read(
        self, work: Callable[[Connection], T], loop: AbstractEventLoop, done: _Waiter
    ) -> None:
        """On a reading thread: run ``work`` and hand its outcome to the event loop."""
        if done.cancelled():  # the request went away while it queued (a benign race)
            return
        try:
            outcomes: list[_Outcome] = [(done, self._call(work, False), None)]
        except BaseException as exc:
            outcomes = [(done, None, exc)]
        _hand_over(loop, outcomes)

    def _drain(self) -> None:
        """On the writing thread: commit the queued write units, a batch at a time."""
        try:
            while True:
                with self._queue_lock:
                    count = min(MAX_BATCH, len(self._queue))
                    batch = [self._queue.popleft() for _ in range(count)]
                    if not batch:
                        self._draining = False
                        return
                # A unit whose request went away while it queued is not run (reading a
                # future's state off its loop is a benign race: at worst it runs).
                runnable = [unit for unit in batch if not unit[2].cancelled()]
                self._write_batch(runnable)
        except BaseException:
            with self._queue_lock:
                self._draining = False  # the next write starts a new drain
            raise

    def _write_batch(self, units: list[_WriteUnit]) -> None:
        """Run ``units`` in order in one transaction and commit once, as if each had been
        committed on its own in that order: a unit that raises is answered with its
        error, and the others are run again without it (the failed attempt rolled back).
        While another process holds the lock, the batch waits as :meth:`_call` does; when
        the wait is spent, or the commit fails, every unit gets that error. The outcomes
        reach each event loop in one hand-over per batch."""
        by_loop: dict[AbstractEventLoop, list[_Outcome]] = {}
        error: BaseException | None = None
        while units:
            try:
                results = self._call(lambda connection: _run_in_order(units, connection), True)
            except _UnitFailed as unit_failed:
                _, loop, done = units.pop(unit_failed.index)
                by_loop.setdefault(loop, []).append((done, None, unit_failed.error))
                continue
            except BaseException as exc:
                results, error = [None] * len(units), exc
            for (_, loop, done), result in zip(units, results, strict=True):
                by_loop.setdefault(loop, []).append((done, result, error))
            break
        for loop, settled in by_loop.items():
            _hand_over(loop, settled)

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


_Waiter = asyncio.Future[Any]
_WriteUnit = tuple[Callable[[Connection], Any], AbstractEventLoop, _Waiter]
_Outcome = tuple[_Waiter, Any, BaseException | None]


def _hand_over(loop: AbstractEventLoop, outcomes: list[_Outcome]) -> None:
    """Settle ``outcomes`` on their event loop: one thread-safe call for all of them
    (instead of a concurrent Future chained to an asyncio one per unit)."""
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[_Outcome]) -> None:
    for done, result, error in outcomes:
        if done.done():  # cancelled meanwhile
            continue
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)


class _UnitFailed(Exception):
    """Unit ``index`` of a write batch raised ``error``: the batch is rolled back and run
    again without it."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def _run_in_order(units: list[_WriteUnit], connection: Connection) -> list[Any]:
    results = []
    for index, (work, _, _) in enumerate(units):
        try:
            results.append(work(connection))
        except OperationalError as exc:
            if _locked(exc):
                raise  # the whole batch waits for the lock
            raise _UnitFailed(index, exc) from exc
        except Exception as exc:
            raise _UnitFailed(index, exc) from exc
    return results


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    apply_sqlite_pragmas(dbapi_connection)
    # Lock waits are retried by SqliteWorker._call, not slept through by SQLite.
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY: "database is locked" (or its table), also a stale read snapshot."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)
