"""Engines for the SQL adapter: URL mapping and per-backend connection settings.

SQLite gets WAL (readers never block the writer), enforced foreign keys (the cascades
in ``schema`` depend on them) and a busy timeout, so concurrent writers from several
processes wait for the lock instead of failing at once. PostgreSQL gets a bounded pool;
after a database restart the first request on a dead connection gets a 503 and the pool
is renewed (tests/e2e/test_faults.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from asyncpg import exceptions as pg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tollhouse.errors import StorageUnavailable
from tollhouse.storage.sql.files import prepare_sqlite_file

_SYNC_TO_ASYNC = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}

SQLITE_PRAGMAS = (
    # busy_timeout first: switching to WAL needs a lock another process may hold.
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)

CONNECT_TIMEOUT = 5
QUERY_TIMEOUT = 30
"""Seconds (PostgreSQL) before a connection attempt or a statement gives up."""

POOL_SIZE = 20
POOL_TIMEOUT = 10.0
"""Connections each process keeps to PostgreSQL, and seconds a store call waits for a
free one before it fails with 503 + Retry-After (all busy: the database is too slow)."""

WAL_SWITCH_ATTEMPTS = 100
WAL_SWITCH_PAUSE = 0.05
"""Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
(``busy_timeout`` does not apply): a process that finds another one switching the
same file at that moment gets "database is locked" at once. It retries, for up to
the busy timeout. Once the file is in WAL (which persists) the pragma never waits."""


def async_url(url: str) -> str:
    """Map a configured database URL to its asyncio driver.

    ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``; ``postgresql://`` and
    ``postgres://`` become ``postgresql+asyncpg://``. URLs that already name an
    async driver are returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    return f"{_SYNC_TO_ASYNC.get(scheme, scheme)}://{rest}"


def is_sqlite(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def sqlite_file(engine: AsyncEngine) -> Path | None:
    """The database file of a SQLite engine (None for PostgreSQL or in-memory SQLite)."""
    url = engine.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def create_engine(url: str, *, for_migration: bool = False) -> AsyncEngine:
    """An ``AsyncEngine`` for ``url`` (sync or async form), configured per backend.

    ``for_migration`` gives a pool-less engine; on SQLite its transactions start
    with ``BEGIN IMMEDIATE``, so the whole upgrade is one transaction that holds the
    write lock from the start, and processes migrating at once run one after another.
    """
    url = async_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if for_migration:
        kwargs["poolclass"] = NullPool
    elif backend == "postgresql":
        # No pre-ping: it costs a round trip per store call. A connection cut by a
        # restart fails its request with 503 + Retry-After, and SQLAlchemy then
        # recycles every pooled connection. Kept connections only, no overflow:
        # overflow connections are closed on return, so a burst above the kept size
        # would reconnect all the time (bench/RESULTS.md has the measurements).
        kwargs.update(
            pool_size=POOL_SIZE, max_overflow=0, pool_timeout=POOL_TIMEOUT, pool_pre_ping=False
        )
        # Bounded waits: an unreachable server fails the request (503), never hangs it.
        kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT, "command_timeout": QUERY_TIMEOUT}
    if backend == "sqlite":
        _prepare_file(parsed.database)
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine, immediate=for_migration)
    return engine


def _prepare_file(database: str | None) -> None:
    if database and database != ":memory:" and not database.startswith("file:"):
        prepare_sqlite_file(Path(database).expanduser())


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if immediate:
            # Take transaction control from the sqlite3 module (which would not
            # begin a transaction before DDL); the "begin" listener emits it.
            dbapi_connection.isolation_level = None
        apply_sqlite_pragmas(dbapi_connection)

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def apply_sqlite_pragmas(dbapi_connection: Any) -> None:
    """:data:`SQLITE_PRAGMAS` on a new DB-API connection."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            execute_pragma(cursor, pragma)
    finally:
        cursor.close()


def execute_pragma(cursor: Any, pragma: str) -> None:
    """Run ``pragma``; the switch to WAL is retried while the file is locked."""
    for attempt in range(1, WAL_SWITCH_ATTEMPTS + 1):
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            locked = "database is locked" in str(exc)
            if not (locked and "journal_mode" in pragma) or attempt == WAL_SWITCH_ATTEMPTS:
                raise
            # Blocks the event loop briefly: only on the first connections to a new
            # file, at start-up, while another process switches it to WAL.
            time.sleep(WAL_SWITCH_PAUSE)


_UNREACHABLE = (
    OSError,  # refused, reset, unreachable: connecting to a server that is down
    TimeoutError,
    pg.PostgresConnectionError,  # SQLSTATE class 08
    pg.CannotConnectNowError,  # 57P03: starting up or shutting down
    pg.AdminShutdownError,  # 57P01: terminated by a fast shutdown (a restart)
    pg.CrashShutdownError,
    pg.TooManyConnectionsError,
    PoolTimeout,  # every pooled connection busy for POOL_TIMEOUT seconds
)


def is_unreachable(exc: BaseException) -> bool:
    """Did ``exc`` come from a database that cannot be reached right now (down,
    restarting, network, SQLite's lock held past the busy timeout), not from a bug?"""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy saw the connection die
            return True
        if isinstance(exc.orig, sqlite3.OperationalError):
            return "database is locked" in str(exc.orig)
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return cause is not None and isinstance(cause, _UNREACHABLE)
    return isinstance(exc, _UNREACHABLE)


@contextlib.asynccontextmanager
async def reachable() -> AsyncIterator[None]:
    """Raise :class:`~tollhouse.errors.StorageUnavailable` (503 + Retry-After for the
    client) instead of the driver's error when the database cannot be reached."""
    try:
        yield
    except Exception as exc:
        unavailable = as_unavailable(exc)
        if unavailable is None:
            raise
        raise unavailable from exc


def as_unavailable(exc: Exception) -> StorageUnavailable | None:
    """The :class:`~tollhouse.errors.StorageUnavailable` that a driver error of an
    unreachable database stands for; None for any other error (raise it as it is)."""
    if isinstance(exc, StorageUnavailable) or not is_unreachable(exc):
        return None
    return unavailable(exc)


def unavailable(exc: BaseException) -> StorageUnavailable:
    """The 503 for a database that failed with ``exc``, naming it for the logs."""
    return StorageUnavailable(debug=f"{type(exc).__name__}: {exc}"[:300])
