"""The SQL adapter's token stores: revocations and their feed, refresh token families,
refresh tokens, and the records of issued access tokens.

A refresh token is consumed like a code, in one ``UPDATE … RETURNING``, so two
processes presenting the same token cannot both rotate it. Revocations are numbered
by the database (``seq``), which is the cursor of the feed resource servers follow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    case,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from tollhouse.errors import Conflict
from tollhouse.models import AccessTokenRecord, RefreshToken, Revocation, TokenFamily
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.prepared import Prepared
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import access_tokens, refresh_tokens, revocations, token_families
from tollhouse.storage.sql.statements import WinnerWrites, consume_once, inserting

families = token_families


def matching(*filters: tuple[Column[str], str | None]) -> list[ColumnElement[bool]]:
    """``column == value`` for each filter that was given (not None)."""
    return [column == value for column, value in filters if value is not None]


# The statements of every grant, built once (values come as bind parameters).
# Prepared: run without SQLAlchemy's per-statement costs (prepared.py).
REFRESH_TOKEN_CONFLICT = "refresh token or family exists, or the family or its client does not"

INSERT_FAMILY = Prepared(insert(families))
INSERT_REFRESH_TOKEN = Prepared(insert(refresh_tokens))
INSERT_ACCESS_TOKENS = Prepared(insert(access_tokens))
MARK_REPLACED = Prepared(
    update(refresh_tokens)
    .where(refresh_tokens.c.token_hash == bindparam("replaced"))
    .values(replaced_by=bindparam("successor"))
)
GET_REFRESH_TOKEN = Prepared(
    select(refresh_tokens).where(refresh_tokens.c.token_hash == bindparam("token_hash"))
)
_IN_LIVE_FAMILY = exists().where(
    families.c.family_id == refresh_tokens.c.family_id,
    families.c.revoked_at.is_(None),
    families.c.expires_at > bindparam("now"),
)
CONSUME_IN_LIVE_FAMILY = Prepared(
    consume_once(refresh_tokens, refresh_tokens.c.token_hash).where(_IN_LIVE_FAMILY)
)


def _rotation() -> Select[Any]:
    """:meth:`SqlTokenStores.rotate_refresh_token` as one statement (``ROTATION.combined``).

    ``consumed`` is the race-safe consuming ``UPDATE … RETURNING``; the successor is
    inserted and the replaced token re-pointed only ``WHERE EXISTS (consumed)``. When
    the consumed token is itself the one replaced (every rotation but the grace-period
    retry) the consuming ``UPDATE`` sets ``replaced_by`` too, as PostgreSQL does not
    update one row twice in one statement. One round trip, its own transaction.
    """
    tokens = refresh_tokens
    text = tokens.c.token_hash.type
    itself = bindparam("hash", type_=text) == bindparam("replaced", type_=text)
    successor_hash = bindparam("successor", type_=text)
    consumed = (
        consume_once(tokens, tokens.c.token_hash)
        .where(_IN_LIVE_FAMILY)
        .values(replaced_by=case((itself, successor_hash), else_=tokens.c.replaced_by))
        .cte("consumed")
    )
    won = exists(select(consumed.c.token_hash))
    successor = inserting(tokens, "new_", when=won)
    repointed = (
        update(tokens)
        .where(tokens.c.token_hash == bindparam("replaced"), ~itself, won)
        .values(replaced_by=successor_hash)
    )
    return select(consumed).add_cte(successor, repointed.cte("repointed"))


ROTATION = WinnerWrites(
    consume=CONSUME_IN_LIVE_FAMILY,
    then=((INSERT_REFRESH_TOKEN, "new_"), (MARK_REPLACED, "")),
    combined=Prepared(_rotation()),
)
"""Consume a refresh token of a live family; only if that won, store its successor and
point the replaced token at it."""
IS_REVOKED = Prepared(
    select(revocations.c.jti).where(
        revocations.c.jti == bindparam("jti"), revocations.c.expires_at > bindparam("now")
    )
)
GET_FAMILY = Prepared(select(families).where(families.c.family_id == bindparam("family_id")))


def _live(where: ColumnElement[bool], now: int) -> Select[Any]:
    return select(revocations).where(where, revocations.c.expires_at > now)


def revocation_window(start: int, now: int, limit: int) -> Select[Any]:
    """Unexpired revocations with ``revoked_at >= start``, in ``seq`` order.

    Ordered by an expression of ``seq``, not the bare key: given the primary key, the
    planner walks the whole table in key order to spare sorting the few rows of the
    last seconds — a full scan on every feed poll once a mass revocation fills the
    table. With the expression the ``revoked_at`` index finds them, then they are sorted.
    """
    return (
        _live(revocations.c.revoked_at >= start, now).order_by(revocations.c.seq + 0).limit(limit)
    )


class SqlTokenStores(SqlRunner):
    """Implements ``RevocationList``, ``RevocationFeedStore``, ``RefreshTokenStore`` and
    ``AccessTokenStore`` of :mod:`tollhouse.storage.ports`."""

    # Revocations -----------------------------------------------------------------------

    async def revoke(self, revocation: Revocation) -> None:
        # The first revocation of a jti wins; its seq is assigned by the database.
        statement = self._upsert(revocations, rows.revocation_row(revocation))
        await self._count(statement.on_conflict_do_nothing(index_elements=[revocations.c.jti]))

    async def is_revoked(self, jti: str, now: int) -> bool:
        return await self._alone(IS_REVOKED, {"jti": jti, "now": now}, write=False) is not None

    async def revocations_since(self, cursor: int, now: int, limit: int) -> list[Revocation]:
        return await self._revocations(
            _live(revocations.c.seq > cursor, now).order_by(revocations.c.seq).limit(limit)
        )

    async def revocations_between(self, start: int, now: int, limit: int) -> list[Revocation]:
        return await self._revocations(revocation_window(start, now, limit))

    async def _revocations(self, statement: Select[Any]) -> list[Revocation]:
        return [rows.to_revocation(row) for row in await self._all(statement)]

    # Refresh token families ---------------------------------------------------------------

    async def add_family(self, family: TokenFamily) -> None:
        await self._insert(
            families,
            rows.family_row(family),
            f"token family {family.family_id!r} exists, or its client does not",
        )

    async def get_family(self, family_id: str) -> TokenFamily | None:
        row = await self._alone(GET_FAMILY, {"family_id": family_id}, write=False)
        return None if row is None else rows.to_family(row)

    async def revoke_family(self, family_id: str, now: int, reason: str) -> bool:
        statement = (
            update(families)
            .where(families.c.family_id == family_id, families.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return await self._count(statement) > 0

    async def families_of(
        self,
        *,
        client_id: str | None = None,
        subject: str | None = None,
        sid: str | None = None,
    ) -> list[TokenFamily]:
        conditions = matching(
            (families.c.client_id, client_id),
            (families.c.subject, subject),
            (families.c.sid, sid),
        )
        if not conditions:
            raise ValueError("families_of needs a client_id, a subject or a sid")
        found = await self._all(
            select(families)
            .where(families.c.revoked_at.is_(None), *conditions)
            .order_by(families.c.created_at, families.c.family_id)
        )
        return [rows.to_family(row) for row in found]

    # Refresh tokens ------------------------------------------------------------------------

    async def add_refresh_token(
        self, token: RefreshToken, *, family: TokenFamily | None = None
    ) -> None:
        token_row = rows.refresh_token_row(token)
        family_row = rows.family_row(family) if family is not None else None

        def add(connection: Connection) -> None:
            if family_row is not None:
                INSERT_FAMILY.run(connection, family_row)
            INSERT_REFRESH_TOKEN.run(connection, token_row)

        try:
            await self._unit(add, write=True)
        except IntegrityError as exc:
            raise Conflict(REFRESH_TOKEN_CONFLICT) from exc

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        row = await self._alone(GET_REFRESH_TOKEN, {"token_hash": token_hash}, write=False)
        return None if row is None else rows.to_refresh_token(row)

    async def rotate_refresh_token(
        self, consume: str, successor: RefreshToken, now: int, *, replaces: str
    ) -> RefreshToken | None:
        # The consuming UPDATE is one statement, so two processes rotating the same
        # token cannot both win; the successor is written only by the one that did.
        steps = (
            rows.refresh_token_row(successor),
            {"replaced": replaces, "successor": successor.token_hash},
        )
        try:
            row = await self._backend.winner_writes(ROTATION, {"hash": consume, "now": now}, steps)
        except IntegrityError as exc:
            raise Conflict(REFRESH_TOKEN_CONFLICT) from exc
        if row is None:
            return None
        # Returned as consumed, before it points at its successor (the one-statement
        # form returns the consuming UPDATE's row, which may set replaced_by): it was
        # unused, and only a used token points anywhere.
        return dataclasses.replace(rows.to_refresh_token(row), replaced_by=None)

    # Access token records --------------------------------------------------------------------

    async def record_access_token(self, record: AccessTokenRecord) -> None:
        await self._insert(
            access_tokens,
            rows.access_token_row(record),
            f"access token {record.jti!r} is already recorded",
        )

    async def record_access_tokens(self, records: Sequence[AccessTokenRecord]) -> None:
        """One transaction, one executemany (the group commit of storage/group_commit.py);
        on PostgreSQL one round trip (``Backend.alone_many``)."""
        if not records:
            return
        values = [rows.access_token_row(r) for r in records]
        try:
            await self._backend.alone_many(INSERT_ACCESS_TOKENS, values)
        except IntegrityError as exc:
            raise Conflict("an access token in the batch is already recorded") from exc

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None:
        row = await self._one(select(access_tokens).where(access_tokens.c.jti == jti))
        return None if row is None else rows.to_access_token(row)

    async def access_tokens_of(
        self,
        now: int,
        *,
        family_id: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
    ) -> list[AccessTokenRecord]:
        conditions = matching(
            (access_tokens.c.family_id, family_id),
            (access_tokens.c.client_id, client_id),
            (access_tokens.c.subject, subject),
        )
        if not conditions:
            raise ValueError("access_tokens_of needs a family_id, client_id or subject")
        found = await self._all(
            select(access_tokens)
            .where(access_tokens.c.expires_at > now, *conditions)
            .order_by(access_tokens.c.issued_at, access_tokens.c.jti)
        )
        return [rows.to_access_token(row) for row in found]
