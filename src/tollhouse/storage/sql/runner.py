"""How the SQL adapter talks to its engine: each call is one short transaction.

``SqlRunner`` owns the ``AsyncEngine`` and the few ways a store method runs a
statement: insert (a broken key or reference becomes
:class:`~tollhouse.errors.Conflict`), write and count, read one row, read all rows.
The stores in ``sql`` and ``sql_tokens`` build on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Delete,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import CTE

from tollhouse.errors import Conflict
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.engine import is_unreachable, reachable, sqlite_file, unavailable
from tollhouse.storage.sql.prepared import Params, Prepared
from tollhouse.storage.sql.sqlite_worker import SqliteWorker

T = TypeVar("T")


def expired_batch(table: Table, key: Column[Any], now: int, batch: int) -> Delete:
    """Delete at most ``batch`` rows of ``table`` whose ``expires_at`` has passed.

    Written as ``DELETE … WHERE key IN (SELECT key … LIMIT batch)``, which both
    SQLite and PostgreSQL accept, so one purge never holds locks for long.
    """
    expired = select(key).where(table.c.expires_at <= now).limit(batch)
    return delete(table).where(key.in_(expired.scalar_subquery()))


def consume_once(table: Table, key: Column[Any]) -> Update:
    """``UPDATE … SET used_at = :now WHERE key = :hash AND used_at IS NULL AND expires_at
    > :now RETURNING *``: one statement, so of two processes redeeming the same
    single-use value (a code, a refresh token) only one gets the row back."""
    return (
        update(table)
        .where(
            key == bindparam("hash"),
            table.c.used_at.is_(None),
            table.c.expires_at > bindparam("now"),
        )
        .values(used_at=bindparam("now"))
        .returning(*table.c)
    )


def inserting(table: Table, prefix: str, *, when: ColumnElement[bool] | None = None) -> CTE:
    """``INSERT`` of one row into ``table`` whose values are the bind parameters named
    ``prefix`` + column name — only if ``when`` holds, when given — as a ``WITH`` clause
    named ``new_<table>`` (PostgreSQL runs data-modifying ``WITH`` clauses and the
    statement around them as one statement)."""
    row = select(*(bindparam(prefix + c.name, type_=c.type) for c in table.c))
    if when is not None:
        row = row.where(when)
    return insert(table).from_select([c.name for c in table.c], row).cte(f"new_{table.name}")


def prefixed(prefix: str, row: Params) -> dict[str, Any]:
    """The row's values under the bind parameter names of :func:`inserting`."""
    return {prefix + name: value for name, value in row.items()}


class SqlRunner:
    """Runs each store call as one unit of work: a function of a synchronous
    ``Connection``, in one transaction.

    On SQLite the unit runs on a worker thread (sqlite_worker.py: one hand-off per
    call); on PostgreSQL through the ``AsyncEngine``'s ``run_sync`` (asyncpg does the
    I/O on the event loop). Either way a database that cannot be reached raises
    :class:`~tollhouse.errors.StorageUnavailable` (503 + Retry-After), not a 500.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite_path = sqlite_file(engine)
        """The database file on SQLite (None on PostgreSQL or in-memory SQLite)."""
        self._worker = SqliteWorker(self._sqlite_path) if self._sqlite_path else None
        # Reads on PostgreSQL run outside a transaction: under READ COMMITTED each
        # statement sees its own snapshot anyway, and BEGIN + ROLLBACK around a SELECT
        # were two more round trips on every read.
        self._on_postgres = engine.dialect.name == "postgresql"
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._on_postgres else engine
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def _unit(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work(connection)`` in one transaction, committed when ``write``."""
        if self._worker is not None:
            return await self._worker.run(work, write=write)
        async with reachable():
            if write:
                async with self._engine.begin() as connection:
                    return await connection.run_sync(work)
            async with self._reader.connect() as connection:
                return await connection.run_sync(work)

    async def _dispose(self) -> None:
        if self._worker is not None:
            await asyncio.to_thread(self._worker.close)
        await self._engine.dispose()

    def _upsert(self, table: Table, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table).values(values)
        return sqlite.insert(table).values(values)

    async def _insert(self, table: Table, values: dict[str, Any], conflict: str) -> None:
        statement = insert(table).values(values)
        try:
            await self._unit(lambda connection: connection.execute(statement), write=True)
        except IntegrityError as exc:
            raise Conflict(conflict) from exc

    # ``params`` fill the ``bindparam``s of a statement built once at import (the hot
    # ones: building and cache-keying a statement per call costs more than running it).

    async def _count(self, statement: Executable, params: Params | None = None) -> int:
        """Run a write in its own transaction; the number of rows it touched."""
        return await self._unit(lambda c: _rowcount(c.execute(statement, params)), write=True)

    async def _write_one(
        self, statement: Executable | Prepared, params: Params | None = None
    ) -> rows.Row | None:
        """Run a write ``… RETURNING`` in its own transaction; the row it returned."""
        if self._on_postgres and isinstance(statement, Prepared):
            # One statement outside BEGIN … COMMIT is its own transaction on PostgreSQL:
            # as atomic, and one round trip instead of three.
            return await self._fetch_first(statement, params or {})
        return await self._unit(lambda c: _first(c, statement, params), write=True)

    async def _one(
        self, statement: Executable | Prepared, params: Params | None = None
    ) -> rows.Row | None:
        if self._on_postgres and isinstance(statement, Prepared):
            return await self._fetch_first(statement, params or {})
        return await self._unit(lambda c: _first(c, statement, params), write=False)

    async def _write_many(self, statement: Prepared, values: Sequence[Params]) -> None:
        """The statement once per row, all rows in one transaction."""
        if self._on_postgres:
            await self._on_asyncpg(
                lambda driver: statement.execute_many(driver, self._engine.dialect, values)
            )
            return
        await self._unit(lambda c: statement.run_many(c, values), write=True)

    async def _fetch_first(self, statement: Prepared, params: Params) -> rows.Row | None:
        """One PostgreSQL statement straight through asyncpg, outside a transaction (a
        read, or a write that commits on its own)."""
        return await self._on_asyncpg(
            lambda driver: statement.fetch_first(driver, self._engine.dialect, params)
        )

    async def _on_asyncpg(self, act: Callable[[Any], Awaitable[T]]) -> T:
        """``act(driver)`` on the asyncpg connection of a pooled connection. A
        connection found dead is dropped from the pool (SQLAlchemy would have done so
        had the statement gone through it) and the call fails with 503."""
        async with reachable(), self._reader.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            try:
                return await act(driver)
            except Exception as exc:
                if not (is_unreachable(exc) or driver.is_closed()):
                    raise
                await connection.invalidate()
                raise unavailable(exc) from exc

    async def _all(self, statement: Executable, params: Params | None = None) -> list[rows.Row]:
        return await self._unit(
            lambda c: list(c.execute(statement, params).mappings().all()), write=False
        )


def _first(
    connection: Connection, statement: Executable | Prepared, params: Params | None
) -> rows.Row | None:
    if isinstance(statement, Prepared):
        return statement.first(connection, params or {})
    row: rows.Row | None = connection.execute(statement, params).mappings().first()
    return row


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count
