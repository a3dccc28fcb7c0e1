"""How the SQL adapter talks to its engine: each call is one short transaction.

``SqlRunner`` owns the ``AsyncEngine`` and the few ways a store method runs a
statement: insert (a broken key or reference becomes
:class:`~tollhouse.errors.Conflict`), write and count, read one row, read all rows.
The stores in ``sql`` and ``sql_tokens`` build on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Column, Delete, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from tollhouse.errors import Conflict
from tollhouse.storage import sql_rows as rows
from tollhouse.storage.sql_engine import reachable


def expired_batch(table: Table, key: Column[Any], now: int, batch: int) -> Delete:
    """Delete at most ``batch`` rows of ``table`` whose ``expires_at`` has passed.

    Written as ``DELETE … WHERE key IN (SELECT key … LIMIT batch)``, which both
    SQLite and PostgreSQL accept, so one purge never holds locks for long.
    """
    expired = select(key).where(table.c.expires_at <= now).limit(batch)
    return delete(table).where(key.in_(expired.scalar_subquery()))


class SqlRunner:
    """Runs statements on an ``AsyncEngine``, each in its own transaction.

    Store methods open connections with :meth:`_begin` / :meth:`_connect`, never the
    engine's own: then a database that cannot be reached raises
    :class:`~tollhouse.errors.StorageUnavailable` (503 + Retry-After), not a 500.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed at the end of the block."""
        async with reachable(), self._engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        async with reachable(), self._engine.connect() as connection:
            yield connection

    def _upsert(self, table: Table, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table).values(values)
        return sqlite.insert(table).values(values)

    async def _insert(self, table: Table, values: dict[str, Any], conflict: str) -> None:
        try:
            async with self._begin() as connection:
                await connection.execute(insert(table).values(values))
        except IntegrityError as exc:
            raise Conflict(conflict) from exc

    async def _count(self, statement: Executable) -> int:
        """Run a write in its own transaction; the number of rows it touched."""
        async with self._begin() as connection:
            result = await connection.execute(statement)
        return result.rowcount

    async def _write_one(self, statement: Executable) -> rows.Row | None:
        """Run a write ``… RETURNING`` in its own transaction; the row it returned."""
        async with self._begin() as connection:
            return (await connection.execute(statement)).mappings().first()

    async def _one(self, statement: Executable) -> rows.Row | None:
        async with self._connect() as connection:
            return (await connection.execute(statement)).mappings().first()

    async def _all(self, statement: Executable) -> list[rows.Row]:
        async with self._connect() as connection:
            return list((await connection.execute(statement)).mappings().all())
