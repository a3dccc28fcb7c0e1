"""The PostgreSQL side of :class:`~tollhouse.storage.sql.backend.Backend`.

A unit of work goes through the ``AsyncEngine`` (asyncpg does the I/O on the event
loop). A statement that stands alone skips it: it is sent straight through asyncpg
on a pooled connection, outside ``BEGIN … COMMIT`` — one statement outside an explicit
transaction is its own transaction, as atomic, and one round trip where ``BEGIN``, the
statement and ``COMMIT`` take three (no greenlet hand-off, no execution context, no
result wrapping either: see ``Prepared.autocommit_first``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from tollhouse.storage.sql.engine import is_unreachable, reachable, unavailable
from tollhouse.storage.sql.prepared import Params, Prepared
from tollhouse.storage.sql.revocation_mirror import IsRevokedQuery, RevocationsSince
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.statements import WinnerWrites

T = TypeVar("T")


class PostgresBackend:
    """Units through the engine; statements alone, and compound writes as one
    statement, straight through asyncpg."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Reads run outside a transaction: under READ COMMITTED each statement sees its
        # own snapshot anyway, and BEGIN + ROLLBACK around a SELECT were two more round
        # trips on every read.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def unit(self, work: Callable[[Connection], T], *, write: bool) -> T:
        async with reachable():
            if write:
                async with self._engine.begin() as connection:
                    return await connection.run_sync(work)
            async with self._reader.connect() as connection:
                return await connection.run_sync(work)

    async def alone(self, statement: Prepared, params: Params, *, write: bool) -> Row | None:
        dialect = self._engine.dialect
        return await self._on_asyncpg(
            lambda driver: statement.autocommit_first(driver, dialect, params)
        )

    async def alone_many(self, statement: Prepared, rows: Sequence[Params]) -> None:
        dialect = self._engine.dialect
        await self._on_asyncpg(lambda driver: statement.autocommit_many(driver, dialect, rows))

    async def winner_writes(
        self, writes: WinnerWrites, consume: Params, steps: tuple[Params, ...]
    ) -> Row | None:
        """One statement (``writes.combined``): the foreign keys between the rows it
        inserts are checked at its end, when all of them exist."""
        params = writes.combined_params(consume, steps)
        return await self.alone(writes.combined, params, write=True)

    def upsert(self, table: Table, values: Mapping[str, Any]) -> postgresql.Insert:
        return postgresql.insert(table).values(dict(values))

    def revocation_check(self, since: RevocationsSince, query: IsRevokedQuery) -> IsRevokedQuery:
        """The query: sequence numbers can commit out of order here, so a copy read from
        the feed's cursor could miss a row (an index lookup on the server instead)."""
        return query

    async def close(self) -> None:
        await self._engine.dispose()

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
