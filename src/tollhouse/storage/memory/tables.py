"""The tables of the in-memory adapter, shared by its stores, and the cascades between
them that a database's foreign keys would make (deleting a user takes its sessions,
purging a family takes its tokens).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Protocol, TypeVar

from tollhouse.models import (
    AccessTokenRecord,
    AdminToken,
    Api,
    AuthorizationCode,
    Client,
    Consent,
    DeviceAuthorization,
    InitialAccessToken,
    Interaction,
    RefreshToken,
    RegistrationAccessToken,
    Revocation,
    Session,
    SigningKey,
    TokenFamily,
    User,
)


class _Expiring(Protocol):
    @property
    def expires_at(self) -> int: ...


E = TypeVar("E", bound=_Expiring)


def purge(table: dict[str, E], now: int, batch: int) -> list[E]:
    """Remove at most ``batch`` expired entries of ``table``; the removed ones."""
    expired = [key for key, value in table.items() if value.expires_at <= now][:batch]
    return [table.pop(key) for key in expired]


class MemoryTables:
    """Every table as a dict, with ``ping``, ``close`` and ``purge_expired``."""

    def __init__(self) -> None:
        super().__init__()  # the mixins after this one in MemoryStorage's MRO (factors)
        self._clients: dict[str, Client] = {}
        self._users: dict[str, User] = {}
        self._apis: dict[str, Api] = {}
        self._scope_owner: dict[str, str] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._consents: dict[tuple[str, str], Consent] = {}
        self._devices: dict[str, DeviceAuthorization] = {}
        self._sessions: dict[str, Session] = {}
        self._session_clients: dict[str, set[str]] = {}
        """Client ids by session ``sid``; they go when the session goes."""
        self._interactions: dict[str, Interaction] = {}
        self._keys: dict[str, SigningKey] = {}
        self._revocations: dict[str, Revocation] = {}
        self._revocation_seq = itertools.count(1)
        self._families: dict[str, TokenFamily] = {}
        self._refresh_tokens: dict[str, RefreshToken] = {}
        self._access_tokens: dict[str, AccessTokenRecord] = {}
        self._initial_tokens: dict[str, InitialAccessToken] = {}
        self._registration_tokens: dict[str, RegistrationAccessToken] = {}
        self._admin_tokens: dict[str, AdminToken] = {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def shares_writer(self) -> bool:
        return False

    async def purge_expired(
        self, now: int, batch: int = 1000, *, drained: set[str] | None = None
    ) -> int:
        """Delete at most ``batch`` expired rows per table; how many. In the SQL
        adapter's order: the tokens of a family purged after them go uncounted. Tables
        named in ``drained`` are skipped; each whose batch comes back short joins it."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        done = set() if drained is None else drained

        def take(name: str, table: dict[str, E]) -> list[E]:
            if name in done:
                return []
            removed = purge(table, now, batch)
            if len(removed) < batch:
                done.add(name)
            return removed

        removed = len(take("authorization_codes", self._codes))
        removed += len(take("device_authorizations", self._devices))
        purged_sessions = take("sessions", self._sessions)
        self._forget_clients_of(purged_sessions)
        removed += len(purged_sessions)
        removed += len(take("interactions", self._interactions))
        removed += len(take("revocations", self._revocations))
        removed += len(take("refresh_tokens", self._refresh_tokens))
        gone = {family.family_id for family in take("token_families", self._families)}
        self._drop_tokens_of(gone)
        removed += len(gone)
        removed += len(take("access_tokens", self._access_tokens))
        removed += len(take("initial_access_tokens", self._initial_tokens))
        removed += len(take("admin_tokens", self._admin_tokens))
        return removed

    def _drop_tokens_of(self, family_ids: set[str]) -> None:
        self._refresh_tokens = {
            h: t for h, t in self._refresh_tokens.items() if t.family_id not in family_ids
        }

    def _by_username(self, username: str) -> User | None:
        return next((u for u in self._users.values() if u.username == username), None)

    def _forget_clients_of(self, sessions: Iterable[Session]) -> None:
        for session in list(sessions):
            self._session_clients.pop(session.sid, None)

    def _by_sid(self, sid: str) -> Session | None:
        return next((s for s in self._sessions.values() if sid and s.sid == sid), None)
