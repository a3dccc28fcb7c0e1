"""The base of the SQL stores: each store call is one short transaction.

``SqlRunner`` holds the :class:`~tollhouse.storage.sql.backend.Backend` and the few
ways a store method runs a statement: insert (a broken key or reference becomes
:class:`~tollhouse.errors.Conflict`), write and count, read one row, read all rows,
and a prepared statement on its own (:meth:`SqlRunner._alone`). The stores build on
it and never ask which database they are on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from tollhouse.errors import Conflict
from tollhouse.storage.sql.backend import Backend, Upsert
from tollhouse.storage.sql.prepared import Params, Prepared
from tollhouse.storage.sql.rows import Row

T = TypeVar("T")


class SqlRunner:
    """Runs each store call as one unit of work on the backend."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def engine(self) -> AsyncEngine:
        return self._backend.engine

    async def _unit(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work(connection)`` in one transaction, committed when ``write``."""
        return await self._backend.unit(work, write=write)

    def _upsert(self, table: Table, values: Mapping[str, Any]) -> Upsert:
        return self._backend.upsert(table, values)

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

    async def _write_one(self, statement: Executable, params: Params | None = None) -> Row | None:
        """Run a write ``… RETURNING`` in its own transaction; the row it returned."""
        return await self._unit(lambda c: _first(c, statement, params), write=True)

    async def _one(self, statement: Executable, params: Params | None = None) -> Row | None:
        return await self._unit(lambda c: _first(c, statement, params), write=False)

    async def _all(self, statement: Executable, params: Params | None = None) -> list[Row]:
        return await self._unit(
            lambda c: list(c.execute(statement, params).mappings().all()), write=False
        )

    async def _alone(self, statement: Prepared, params: Params, *, write: bool) -> Row | None:
        """A prepared read, or a prepared write atomic on its own, as its own
        transaction (``Backend.alone``: autocommit on PostgreSQL); its first row."""
        return await self._backend.alone(statement, params, write=write)


def _first(connection: Connection, statement: Executable, params: Params | None) -> Row | None:
    row: Row | None = connection.execute(statement, params).mappings().first()
    return row


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count
