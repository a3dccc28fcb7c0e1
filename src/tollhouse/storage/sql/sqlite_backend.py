"""The SQLite side of :class:`~tollhouse.storage.sql.backend.Backend`.

Every store call is one unit of work on the worker threads of ``sqlite_worker``: one
hand-off per call whatever the unit holds, so a compound write is simply a
transaction of several statements, and a statement on its own a unit of one. The
``is_revoked`` check is answered from memory while the file shows no new commit
(``revocation_mirror``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tollhouse.storage.sql.prepared import Params, Prepared
from tollhouse.storage.sql.revocation_mirror import (
    DataVersion,
    IsRevokedQuery,
    RevocationMirror,
    RevocationsSince,
)
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.sqlite_worker import SqliteWorker
from tollhouse.storage.sql.statements import WinnerWrites

T = TypeVar("T")


class SqliteBackend:
    """Units of work on a SQLite file's worker threads."""

    def __init__(self, engine: AsyncEngine, path: Path) -> None:
        self._engine = engine
        self._path = path
        self._worker = SqliteWorker(path)
        self.revocation_mirror: RevocationMirror | None = None
        """Set by :meth:`revocation_check`."""

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def worker(self) -> SqliteWorker:
        return self._worker

    async def unit(self, work: Callable[[Connection], T], *, write: bool) -> T:
        return await self._worker.run(work, write=write)

    async def alone(self, statement: Prepared, params: Params, *, write: bool) -> Row | None:
        return await self.unit(lambda connection: statement.first(connection, params), write=write)

    async def alone_many(self, statement: Prepared, rows: Sequence[Params]) -> None:
        await self.unit(lambda connection: statement.run_many(connection, rows), write=True)

    async def winner_writes(
        self, writes: WinnerWrites, consume: Params, steps: tuple[Params, ...]
    ) -> Row | None:
        """One transaction: the consume, then (if it won) each step."""

        def run(connection: Connection) -> Row | None:
            row = writes.consume.first(connection, consume)
            if row is not None:
                for (statement, _), values in zip(writes.then, steps, strict=True):
                    statement.run(connection, values)
            return row

        return await self.unit(run, write=True)

    def upsert(self, table: Table, values: Mapping[str, Any]) -> sqlite.Insert:
        return sqlite.insert(table).values(dict(values))

    def revocation_check(self, since: RevocationsSince, query: IsRevokedQuery) -> IsRevokedQuery:
        """From memory while nothing new was committed: one writer at a time assigns
        ``seq`` here, so reading from the feed's cursor cannot skip a row."""
        self.revocation_mirror = RevocationMirror(DataVersion(self._path), since, query)
        return self.revocation_mirror.is_revoked

    async def close(self) -> None:
        if self.revocation_mirror is not None:
            self.revocation_mirror.close()
        await asyncio.to_thread(self._worker.close)
        await self._engine.dispose()
