"""Statement builders the stores share, and the shape of a write that only the winner
of a consuming ``UPDATE`` makes.

Every statement here is plain SQLAlchemy Core, valid on SQLite and PostgreSQL; values
come as bind parameters, so each statement is built once, at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Delete,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.sql.selectable import CTE

from tollhouse.storage.sql.prepared import Params, Prepared


def expired_batch(table: Table, key: Column[Any], now: int, batch: int) -> Delete:
    """Delete at most ``batch`` rows of ``table`` whose ``expires_at`` has passed.

    Written as ``DELETE … WHERE key IN (SELECT key … LIMIT batch)``, which both
    SQLite and PostgreSQL accept, so one purge never holds locks for long. On
    PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``: two servers purging the
    same table at once take disjoint rows instead of waiting on (or deadlocking over)
    each other's; SQLite, one writer at a time, renders no such clause.
    """
    expired = (
        select(key).where(table.c.expires_at <= now).limit(batch).with_for_update(skip_locked=True)
    )
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


@dataclass(frozen=True, slots=True)
class WinnerWrites:
    """A consuming ``UPDATE … RETURNING`` and the writes that only its winner makes, in
    two equivalent forms; the backend runs the one that suits its database.

    ``consume`` then each of ``then`` in one transaction (each step with its own
    parameters), the steps skipped when ``consume`` returns no row; or ``combined``,
    the same as one statement of data-modifying ``WITH`` clauses, whose bind
    parameters are the consume's plus each step's under the step's prefix
    (:func:`prefixed`). Either way the consumed row is the result.
    """

    consume: Prepared
    then: tuple[tuple[Prepared, str], ...]
    """Each step, with the prefix of its parameters in ``combined``."""
    combined: Prepared

    def combined_params(self, consume: Params, steps: tuple[Params, ...]) -> dict[str, Any]:
        params = dict(consume)
        for (_, prefix), values in zip(self.then, steps, strict=True):
            params |= prefixed(prefix, values)
        return params
