"""``SqlStorage``: every storage port on SQLAlchemy Core, for SQLite and PostgreSQL.

One class serves both databases: the stores (``accounts``, ``codes``, ``devices``,
``sessions``, ``keys``, ``tokens``, ``registration``, ``admin``) build the same
statements, and what
differs between the databases sits behind the
:class:`~tollhouse.storage.sql.backend.Backend` chosen once, here. Engines are
configured in ``engine``, migrations run by ``migrate``, rows mapped in ``rows``.

Uniqueness and references are left to the database: an insert that breaks a key or
a foreign key raises :class:`~tollhouse.errors.Conflict`, never a driver error, and no
write is a check-then-set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tollhouse.storage.sql.accounts import SqlAccounts
from tollhouse.storage.sql.admin import SqlAdminTokens
from tollhouse.storage.sql.backend import backend_for
from tollhouse.storage.sql.codes import SqlCodes
from tollhouse.storage.sql.devices import SqlDevices
from tollhouse.storage.sql.engine import create_engine
from tollhouse.storage.sql.factors import SqlFactors
from tollhouse.storage.sql.keys import SqlKeys
from tollhouse.storage.sql.migrate import migrate as migrate_to_head
from tollhouse.storage.sql.registration import SqlRegistrationTokens
from tollhouse.storage.sql.schema import (
    access_tokens,
    admin_tokens,
    authorization_codes,
    device_authorizations,
    initial_access_tokens,
    interactions,
    pushed_requests,
    refresh_tokens,
    revocations,
    sessions,
    token_families,
    used_once,
)
from tollhouse.storage.sql.sessions import SqlSessions
from tollhouse.storage.sql.statements import expired_batch
from tollhouse.storage.sql.tokens import SqlTokenStores
from tollhouse.storage.sql.uses import SqlOneTimeUses

EXPIRING: tuple[tuple[Table, Column[Any]], ...] = (
    (authorization_codes, authorization_codes.c.code_hash),
    (device_authorizations, device_authorizations.c.device_code_hash),
    # A purged session takes its session_clients rows with it (ON DELETE CASCADE,
    # a handful per session), and those are not counted.
    (sessions, sessions.c.session_hash),
    (interactions, interactions.c.interaction_hash),
    (revocations, revocations.c.seq),
    (refresh_tokens, refresh_tokens.c.token_hash),
    # After the tokens: a family past its absolute expiry takes its remaining
    # tokens with it (ON DELETE CASCADE), and those are not counted.
    (token_families, token_families.c.family_id),
    (access_tokens, access_tokens.c.jti),
    (initial_access_tokens, initial_access_tokens.c.token_hash),
    (admin_tokens, admin_tokens.c.token_id),
    (used_once, used_once.c.use_key),
    (pushed_requests, pushed_requests.c.request_hash),
)
"""The tables ``purge_expired`` empties of expired rows, each with its key."""


async def open_storage(url: str, *, migrate: bool = True) -> SqlStorage:
    """Open the database at ``url`` (sync or async form), migrating it to head first."""
    if migrate:
        await migrate_to_head(url)
    return SqlStorage(create_engine(url))


class SqlStorage(
    SqlAccounts,
    SqlFactors,
    SqlCodes,
    SqlDevices,
    SqlSessions,
    SqlKeys,
    SqlTokenStores,
    SqlRegistrationTokens,
    SqlAdminTokens,
    SqlOneTimeUses,
):
    """Implements :class:`~tollhouse.storage.ports.Storage` on an ``AsyncEngine`` (a
    PostgreSQL database or a SQLite file)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(backend_for(engine))
        self._is_revoked = self._backend.revocation_check(
            self.revocations_since, super().is_revoked
        )

    async def is_revoked(self, jti: str, now: int) -> bool:
        """As the backend answers it (``Backend.revocation_check``)."""
        return await self._is_revoked(jti, now)

    async def ping(self) -> None:
        await self._unit(lambda connection: connection.execute(text("SELECT 1")), write=False)

    async def close(self) -> None:
        await self._backend.close()

    @property
    def shares_writer(self) -> bool:
        """Whether every write waits for one writer (SQLite), so a purge must leave gaps."""
        return self._backend.engine.dialect.name == "sqlite"

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int:
        """Delete at most ``batch`` expired rows per table, one short transaction per
        table; how many. Tables named in ``drained`` are skipped, and each table whose
        batch comes back short of ``batch`` is added to it (it has nothing more to
        delete now), so repeated calls work only on the tables with a backlog."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        removed = 0
        for table, key in EXPIRING:
            if drained is not None and table.name in drained:
                continue
            count = await self._count(expired_batch(table, key, now, batch))
            if drained is not None and count < batch:
                drained.add(table.name)
            removed += count
        return removed
