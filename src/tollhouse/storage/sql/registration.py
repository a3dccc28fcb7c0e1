"""The SQL adapter's registration token store (RFC 7591 §3, RFC 7592 §1).

Initial access tokens are spent in one ``UPDATE … WHERE uses_left > 0 AND
expires_at > now RETURNING``, so two registrations racing for the last use cannot
both win. Only fingerprints of the tokens are stored.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tollhouse.errors import Conflict
from tollhouse.models import InitialAccessToken, RegistrationAccessToken
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import initial_access_tokens, registration_access_tokens

initial = initial_access_tokens
registration = registration_access_tokens


def _initial(row: Row) -> InitialAccessToken:
    return InitialAccessToken(
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        uses_left=row["uses_left"],
    )


class SqlRegistrationTokens(SqlRunner):
    """Implements :class:`~tollhouse.storage.ports.RegistrationTokenStore`."""

    async def add_initial_access_token(self, token: InitialAccessToken) -> None:
        await self._insert(
            initial,
            {
                "token_hash": token.token_hash,
                "created_at": token.created_at,
                "expires_at": token.expires_at,
                "uses_left": token.uses_left,
            },
            "initial access token already exists",
        )

    async def get_initial_access_token(self, token_hash: str) -> InitialAccessToken | None:
        row = await self._one(select(initial).where(initial.c.token_hash == token_hash))
        return None if row is None else _initial(row)

    async def use_initial_access_token(
        self, token_hash: str, now: int
    ) -> InitialAccessToken | None:
        # One statement: concurrent registrations cannot spend the same last use twice.
        statement = (
            update(initial)
            .where(
                initial.c.token_hash == token_hash,
                initial.c.uses_left > 0,
                initial.c.expires_at > now,
            )
            .values(uses_left=initial.c.uses_left - 1)
            .returning(*initial.c)
        )
        row = await self._write_one(statement)
        return None if row is None else _initial(row)

    async def set_registration_access_token(self, token: RegistrationAccessToken) -> None:
        values = {
            "client_id": token.client_id,
            "token_hash": token.token_hash,
            "created_at": token.created_at,
        }
        statement = self._upsert(registration, values).on_conflict_do_update(
            index_elements=[registration.c.client_id],
            set_={"token_hash": token.token_hash, "created_at": token.created_at},
        )
        try:
            await self._count(statement)
        except IntegrityError as exc:
            raise Conflict(f"no client {token.client_id!r}") from exc

    async def get_registration_access_token(self, client_id: str) -> RegistrationAccessToken | None:
        row = await self._one(select(registration).where(registration.c.client_id == client_id))
        if row is None:
            return None
        return RegistrationAccessToken(row["client_id"], row["token_hash"], row["created_at"])

    async def replace_registration_access_token(
        self, client_id: str, old_hash: str, token: RegistrationAccessToken
    ) -> bool:
        # Compare and swap in one statement: of two requests presenting the same token,
        # exactly one rotates it.
        statement = (
            update(registration)
            .where(registration.c.client_id == client_id, registration.c.token_hash == old_hash)
            .values(token_hash=token.token_hash, created_at=token.created_at)
        )
        return await self._count(statement) > 0
