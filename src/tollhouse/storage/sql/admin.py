"""The SQL adapter's admin token store (the interaction API's bearer tokens).

Only the SHA-256 fingerprint of each 256-bit token is stored; a token is found by
that fingerprint, so the lookup itself reveals nothing about other tokens.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from tollhouse.models import AdminToken
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import admin_tokens


def _token(row: Row) -> AdminToken:
    return AdminToken(
        token_id=row["token_id"],
        token_hash=row["token_hash"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


class SqlAdminTokens(SqlRunner):
    """Implements :class:`~tollhouse.storage.ports.AdminTokenStore`."""

    async def add_admin_token(self, token: AdminToken) -> None:
        await self._insert(
            admin_tokens,
            {
                "token_id": token.token_id,
                "token_hash": token.token_hash,
                "name": token.name,
                "created_at": token.created_at,
                "expires_at": token.expires_at,
            },
            "admin token already exists",
        )

    async def get_admin_token(self, token_hash: str) -> AdminToken | None:
        row = await self._one(select(admin_tokens).where(admin_tokens.c.token_hash == token_hash))
        return None if row is None else _token(row)

    async def list_admin_tokens(self) -> list[AdminToken]:
        found = await self._all(
            select(admin_tokens).order_by(admin_tokens.c.created_at.desc(), admin_tokens.c.token_id)
        )
        return [_token(row) for row in found]

    async def delete_admin_token(self, token_id: str) -> bool:
        statement = delete(admin_tokens).where(admin_tokens.c.token_id == token_id)
        return await self._count(statement) > 0
