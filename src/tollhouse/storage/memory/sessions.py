"""The in-memory session stores: sessions, the clients each served, pending
interactions and the interaction API's admin tokens."""

from __future__ import annotations

import copy
import dataclasses

from tollhouse.errors import Conflict
from tollhouse.models import (
    AdminToken,
    Interaction,
    Session,
)
from tollhouse.storage.memory.tables import MemoryTables


class MemorySessions(MemoryTables):
    """Implements ``SessionStore``, ``InteractionStore`` and ``AdminTokenStore`` of
    :mod:`tollhouse.storage.ports`."""

    # Sessions and interactions ----------------------------------------------------------

    async def add_session(self, session: Session) -> None:
        if (
            session.session_hash in self._sessions
            or session.user_id not in self._users
            or (session.sid and self._by_sid(session.sid) is not None)
        ):
            raise Conflict("session (or its sid) exists, or its user does not")
        self._sessions[session.session_hash] = session

    async def get_session(self, session_hash: str) -> Session | None:
        return self._sessions.get(session_hash)

    async def delete_session(self, session_hash: str) -> None:
        session = self._sessions.pop(session_hash, None)
        if session is not None:
            self._forget_clients_of([session])

    async def touch_session(self, session_hash: str, now: int) -> None:
        """Set ``last_active_at``; it never moves back (concurrent requests)."""
        session = self._sessions.get(session_hash)
        if session is not None and session.last_active_at < now:
            self._sessions[session_hash] = dataclasses.replace(session, last_active_at=now)

    async def get_session_by_sid(self, sid: str) -> Session | None:
        return self._by_sid(sid)

    async def list_sessions(self, user_id: str | None = None) -> list[Session]:
        found = [s for s in self._sessions.values() if user_id in (None, s.user_id)]
        return sorted(found, key=lambda s: (-s.created_at, s.session_hash))

    async def add_session_client(self, sid: str, client_id: str) -> None:
        if self._by_sid(sid) is None:
            raise Conflict("no session has this sid")
        self._session_clients.setdefault(sid, set()).add(client_id)

    async def session_clients(self, sid: str) -> list[str]:
        return sorted(self._session_clients.get(sid, ()))

    async def add_interaction(self, interaction: Interaction) -> None:
        if interaction.interaction_hash in self._interactions:
            raise Conflict("interaction already exists")
        self._interactions[interaction.interaction_hash] = copy.deepcopy(interaction)

    async def get_interaction(self, interaction_hash: str) -> Interaction | None:
        return copy.deepcopy(self._interactions.get(interaction_hash))

    async def take_interaction(self, interaction_hash: str, now: int) -> Interaction | None:
        taken = self._interactions.pop(interaction_hash, None)
        return None if taken is None or taken.expires_at <= now else taken

    # Admin tokens (interaction API) -------------------------------------------------------

    async def add_admin_token(self, token: AdminToken) -> None:
        if token.token_id in self._admin_tokens or any(
            t.token_hash == token.token_hash for t in self._admin_tokens.values()
        ):
            raise Conflict("admin token already exists")
        self._admin_tokens[token.token_id] = token

    async def get_admin_token(self, token_hash: str) -> AdminToken | None:
        return next((t for t in self._admin_tokens.values() if t.token_hash == token_hash), None)

    async def list_admin_tokens(self) -> list[AdminToken]:
        return sorted(self._admin_tokens.values(), key=lambda t: (-t.created_at, t.token_id))

    async def delete_admin_token(self, token_id: str) -> bool:
        return self._admin_tokens.pop(token_id, None) is not None
