"""The SQL adapter's session stores: browser sessions, the clients each served, and
pending interactions (RFC 6749 §4.1.1 requests waiting for login or consent).

A session's ``session_clients`` rows go with it (``ON DELETE CASCADE``); an
interaction is taken in one ``DELETE … RETURNING``, so of two requests completing
it one wins.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from tollhouse.errors import Conflict
from tollhouse.models import Interaction, Session
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import interactions, session_clients, sessions

sid_clients = session_clients
"""Named apart from the ``SqlSessions.session_clients`` method."""

# Read on every page of a sign-in and every request with a session cookie: built once,
# not per call (each build and its cache key cost the event loop more than the read).
GET_SESSION = select(sessions).where(sessions.c.session_hash == bindparam("key"))
GET_INTERACTION = select(interactions).where(interactions.c.interaction_hash == bindparam("key"))


class SqlSessions(SqlRunner):
    """Implements ``SessionStore`` and ``InteractionStore`` of
    :mod:`tollhouse.storage.ports`."""

    async def add_session(self, session: Session) -> None:
        await self._insert(
            sessions,
            rows.session_row(session),
            "session (or its sid) exists, or its user does not",
        )

    async def get_session(self, session_hash: str) -> Session | None:
        row = await self._one(GET_SESSION, {"key": session_hash})
        return None if row is None else rows.to_session(row)

    async def delete_session(self, session_hash: str) -> None:
        # Its session_clients rows go with it (ON DELETE CASCADE).
        await self._count(delete(sessions).where(sessions.c.session_hash == session_hash))

    async def touch_session(self, session_hash: str, now: int) -> None:
        """Set ``last_active_at``; it never moves back (concurrent requests)."""
        await self._count(
            update(sessions)
            .where(sessions.c.session_hash == session_hash, sessions.c.last_active_at < now)
            .values(last_active_at=now)
        )

    async def get_session_by_sid(self, sid: str) -> Session | None:
        if not sid:
            return None
        row = await self._one(select(sessions).where(sessions.c.sid == sid))
        return None if row is None else rows.to_session(row)

    async def list_sessions(self, user_id: str | None = None) -> list[Session]:
        query = select(sessions).order_by(sessions.c.created_at.desc(), sessions.c.session_hash)
        if user_id is not None:
            query = query.where(sessions.c.user_id == user_id)
        return [rows.to_session(row) for row in await self._all(query)]

    async def add_session_client(self, sid: str, client_id: str) -> None:
        statement = self._upsert(sid_clients, {"sid": sid, "client_id": client_id})
        try:
            await self._count(
                statement.on_conflict_do_nothing(
                    index_elements=[sid_clients.c.sid, sid_clients.c.client_id]
                )
            )
        except IntegrityError as exc:
            raise Conflict("no session has this sid") from exc

    async def session_clients(self, sid: str) -> list[str]:
        # Sorted here rather than by the database, whose collation may differ.
        found = await self._all(select(sid_clients.c.client_id).where(sid_clients.c.sid == sid))
        return sorted(row["client_id"] for row in found)

    async def add_interaction(self, interaction: Interaction) -> None:
        await self._insert(
            interactions, rows.interaction_row(interaction), "interaction already exists"
        )

    async def get_interaction(self, interaction_hash: str) -> Interaction | None:
        row = await self._one(GET_INTERACTION, {"key": interaction_hash})
        return None if row is None else rows.to_interaction(row)

    async def take_interaction(self, interaction_hash: str, now: int) -> Interaction | None:
        # One DELETE … RETURNING: two requests completing one interaction, one wins.
        row = await self._write_one(
            delete(interactions)
            .where(interactions.c.interaction_hash == interaction_hash)
            .returning(*interactions.c)
        )
        if row is None or row["expires_at"] <= now:
            return None
        return rows.to_interaction(row)
