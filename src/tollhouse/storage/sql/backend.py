"""The one seam between SQLite and PostgreSQL: how a store call reaches the database.

The stores build the same Core statements for both databases and call a
:class:`Backend`, chosen once per storage by :func:`backend_for`. What differs:

* **SQLite** (:class:`~tollhouse.storage.sql.sqlite_backend.SqliteBackend`): every
  call is a unit of work on the threads of ``sqlite_worker`` (one hand-off per call,
  whatever it holds), so a compound write is a transaction of several statements and
  a statement on its own is a unit of one; ``is_revoked`` is answered from the
  in-process mirror of ``revocation_mirror`` while nothing new was committed.
* **PostgreSQL** (:class:`~tollhouse.storage.sql.postgres_backend.PostgresBackend`):
  units run through the ``AsyncEngine``; a statement on its own goes straight to
  asyncpg outside ``BEGIN … COMMIT`` (its own transaction: one round trip where an
  explicit transaction takes three); a compound write is one statement of
  data-modifying ``WITH`` clauses (one round trip, where ``BEGIN``, the statements
  and ``COMMIT`` take several).

The results are the same on both: the contract tests in ``tests/storage`` run every
port against each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tollhouse.storage.sql.engine import sqlite_file
from tollhouse.storage.sql.postgres_backend import PostgresBackend
from tollhouse.storage.sql.prepared import Params, Prepared
from tollhouse.storage.sql.revocation_mirror import IsRevokedQuery, RevocationsSince
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.sqlite_backend import SqliteBackend
from tollhouse.storage.sql.statements import WinnerWrites

T = TypeVar("T")

Upsert = postgresql.Insert | sqlite.Insert
"""An ``INSERT`` with ``on_conflict_do_update`` / ``on_conflict_do_nothing`` (both
dialects spell ``ON CONFLICT`` the same way, but SQLAlchemy builds it per dialect)."""


class Backend(Protocol):
    """How the stores run their statements on one database."""

    @property
    def engine(self) -> AsyncEngine: ...

    async def unit(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work(connection)`` in one transaction, committed when ``write``. A database
        that cannot be reached raises ``StorageUnavailable`` (503), not a driver error."""

    async def alone(self, statement: Prepared, params: Params, *, write: bool) -> Row | None:
        """One prepared statement that needs no other in its transaction — a read, or a
        write that is atomic on its own (``UPDATE … RETURNING``, one ``INSERT``) — run
        as its own transaction; its first row, if it returns any."""

    async def alone_many(self, statement: Prepared, rows: Sequence[Params]) -> None:
        """The statement once per row, as one transaction of its own: all rows or none."""

    async def winner_writes(
        self, writes: WinnerWrites, consume: Params, steps: tuple[Params, ...]
    ) -> Row | None:
        """Consume, and only if that returned a row, make the steps' writes, atomically;
        the consumed row. A broken key or reference raises ``IntegrityError``."""

    def upsert(self, table: Table, values: Mapping[str, Any]) -> Upsert:
        """``INSERT`` of ``values`` into ``table``, ready for an ``ON CONFLICT`` clause."""

    def revocation_check(self, since: RevocationsSince, query: IsRevokedQuery) -> IsRevokedQuery:
        """How ``is_revoked`` is answered, given the feed read and the one-row query."""

    async def close(self) -> None: ...


def backend_for(engine: AsyncEngine) -> Backend:
    """The backend of ``engine``'s database: PostgreSQL, or a SQLite file."""
    if engine.dialect.name == "postgresql":
        return PostgresBackend(engine)
    path = sqlite_file(engine)
    if engine.dialect.name == "sqlite" and path is not None:
        return SqliteBackend(engine, path)
    raise ValueError(f"not a PostgreSQL database or a SQLite file: {engine.url!r}")
