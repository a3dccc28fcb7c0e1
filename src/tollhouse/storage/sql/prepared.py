"""The hot statements, compiled once and run without SQLAlchemy's per-statement costs.

Through ``Connection.execute`` most of the CPU a one-row statement costs is
SQLAlchemy's compiled-cache lookup, execution context and result wrapping, not the
statement itself, and on SQLite it is paid on the single writing thread for every
statement of every grant (bench/RESULTS.md). A :class:`Prepared` statement is a Core
statement like any other, run in one of two explicit ways:

* inside a unit of work (:meth:`Prepared.run`, :meth:`Prepared.run_many`,
  :meth:`Prepared.first`): part of the caller's transaction. On SQLite it is compiled
  once per set of parameter names and run on the connection's own cursor; on
  PostgreSQL it goes through SQLAlchemy as any statement would.
* on its own, PostgreSQL only (:meth:`Prepared.autocommit_first`,
  :meth:`Prepared.autocommit_many`): sent straight through asyncpg outside
  ``BEGIN … COMMIT``, so the statement is its own transaction (autocommit). The
  caller chooses this for a read, or a write that is atomic on its own; the backend
  (``postgres_backend``) is the only caller.

What SQLAlchemy would do around the statement is done here too: each parameter and
returned column goes through its type's bind or result processor (``Boolean`` to and
from 0/1), and DB-API errors are raised as SQLAlchemy's (``IntegrityError``,
``OperationalError`` with ``.orig``), which the stores and the lock retry of
``sqlite_worker`` catch.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncpg import exceptions as pg  # type: ignore[import-untyped]
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]
T = TypeVar("T")


Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    """The bind parameter names in the order of the ``?`` placeholders."""
    binds: tuple[Processor | None, ...]
    """Each placeholder's bind processor (SQLAlchemy's type conversion), if it has one."""
    results: dict[str, Processor]
    """The result processors of the returned columns that have one, by column name."""

    def values(self, params: Params) -> tuple[Any, ...]:
        return tuple(
            params[name] if convert is None else convert(params[name])
            for name, convert in zip(self.names, self.binds, strict=True)
        )

    def row(self, description: Sequence[Sequence[Any]], values: Sequence[Any]) -> dict[str, Any]:
        return self.converted(
            {column[0]: value for column, value in zip(description, values, strict=True)}
        )

    def converted(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, convert in self.results.items():
            if name in row:
                row[name] = convert(row[name])
        return row


class Prepared:
    """A Core statement with bind parameters, run straight on SQLite's cursor inside a
    unit of work, or on its own in autocommit through asyncpg on PostgreSQL."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, ...], _Compiled | None] = {}
        """By dialect name and parameter names."""

    def run(self, connection: Connection, params: Params) -> None:
        """Execute for its effect."""
        compiled = self._for(connection, params)
        if compiled is None:
            connection.execute(self.statement, dict(params))
            return
        _execute(connection, compiled, params)

    def run_many(self, connection: Connection, rows: Sequence[Params]) -> None:
        """Execute once per row (``executemany``); every row has the same names."""
        if not rows:
            return
        compiled = self._for(connection, rows[0])
        if compiled is None:
            connection.execute(self.statement, [dict(row) for row in rows])
            return
        values = [compiled.values(row) for row in rows]
        _on_cursor(connection, compiled, values, lambda c: c.executemany(compiled.sql, values))

    def first(self, connection: Connection, params: Params) -> Mapping[str, Any] | None:
        """The first row the statement returns (``SELECT`` or ``… RETURNING``), by name."""
        compiled = self._for(connection, params)
        if compiled is None:
            row = connection.execute(self.statement, dict(params)).mappings().first()
            return None if row is None else dict(row)
        return _execute(connection, compiled, params)

    async def autocommit_first(
        self, driver: Any, dialect: Dialect, params: Params
    ) -> Mapping[str, Any] | None:
        """Autocommit: run the statement as its own transaction with asyncpg's
        ``fetchrow`` on ``driver`` (an ``asyncpg.Connection`` outside any explicit
        transaction); its first row. A write commits when this returns. The statement
        is prepared once per connection by asyncpg's statement cache."""
        compiled = self._for_asyncpg(dialect, params)
        with _integrity_errors(compiled):
            record = await driver.fetchrow(compiled.sql, *compiled.values(params))
        return None if record is None else compiled.converted(dict(record.items()))

    async def autocommit_many(self, driver: Any, dialect: Dialect, rows: Sequence[Params]) -> None:
        """Autocommit: execute once per row with asyncpg's ``executemany`` on ``driver``,
        outside any explicit transaction: asyncpg sends every row in one pipeline that
        PostgreSQL runs as one implicit transaction (all rows or none), so a batch costs
        one round trip."""
        if not rows:
            return
        compiled = self._for_asyncpg(dialect, rows[0])
        with _integrity_errors(compiled):
            await driver.executemany(compiled.sql, [compiled.values(row) for row in rows])

    def _for_asyncpg(self, dialect: Dialect, params: Params) -> _Compiled:
        compiled = self._compiled_for(dialect, params)
        if compiled is None:
            raise TypeError(f"cannot run {self.statement} on asyncpg directly")
        return compiled

    def _for(self, connection: Connection, params: Params) -> _Compiled | None:
        """The SQLite form for these parameter names, or None: through SQLAlchemy."""
        dialect = connection.dialect
        if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
            return None
        return self._compiled_for(dialect, params)

    def _compiled_for(self, dialect: Dialect, params: Params) -> _Compiled | None:
        key = (dialect.name, *params)
        try:
            return self._compiled[key]
        except KeyError:
            compiled = self._compiled[key] = _compile(self.statement, dialect, key[1:])
            return compiled


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    names = tuple(compiled.positiontup)
    binds = tuple(compiled.binds[name].type.bind_processor(dialect) for name in names)
    results: dict[str, Processor] = {}
    for column in getattr(statement, "exported_columns", ()):  # selected or RETURNING
        convert = column.type.result_processor(dialect, None)
        if convert is not None:
            results[column.name] = convert
    return _Compiled(compiled.string, names, binds, results)


@contextlib.contextmanager
def _integrity_errors(compiled: _Compiled) -> Iterator[None]:
    """asyncpg's key and reference violations raised as SQLAlchemy's ``IntegrityError``
    (without the values, which may be token digests), as on SQLite."""
    try:
        yield
    except pg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(compiled.sql, None, exc) from exc


def _execute(
    connection: Connection, compiled: _Compiled, params: Params
) -> Mapping[str, Any] | None:
    values = compiled.values(params)

    def fetch(cursor: sqlite3.Cursor) -> Mapping[str, Any] | None:
        cursor.execute(compiled.sql, values)
        row = cursor.fetchone()
        return None if row is None else compiled.row(cursor.description, row)

    return _on_cursor(connection, compiled, values, fetch)


def _on_cursor(
    connection: Connection,
    compiled: _Compiled,
    values: Sequence[Any],
    act: Callable[[sqlite3.Cursor], T],
) -> T:
    """``act`` on a cursor of the connection's DB-API connection, errors translated."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    cursor = driver.cursor()
    try:
        return act(cursor)
    except sqlite3.Error as exc:
        raise _translated(compiled, values, exc) from exc
    finally:
        cursor.close()


def _translated(compiled: _Compiled, values: Sequence[Any], exc: sqlite3.Error) -> Exception:
    """The error SQLAlchemy would have raised (``IntegrityError``, ``OperationalError`` …)."""
    error: Exception = DBAPIError.instance(
        compiled.sql, values, exc, sqlite3.Error, hide_parameters=True
    )
    return error
