"""The SQL adapter's signing key store: public JWKs and encrypted private keys.

Of instances rotating at once, one wins: the unique ``(alg, generation)`` makes the
second insert of a generation a :class:`~tollhouse.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, delete, select, update

from tollhouse.errors import Conflict
from tollhouse.models import SigningKey
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import signing_keys


class SqlKeys(SqlRunner):
    """Implements :class:`~tollhouse.storage.ports.KeyStore`."""

    async def add_key(self, key: SigningKey) -> None:
        await self._insert(signing_keys, rows.key_row(key), _key_conflict(key))

    async def list_keys(self) -> list[SigningKey]:
        found = await self._all(
            select(signing_keys).order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        )
        return [rows.to_key(row) for row in found]

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        """Set ``status``; ``retired_at`` becomes ``at``, or None when back to active."""
        retired_at = None if status == "active" else at
        statement = (
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(status=status, retired_at=retired_at)
        )
        return await self._count(statement) > 0

    async def delete_retired_keys(self, retired_before: int) -> int:
        return await self._count(
            delete(signing_keys).where(
                signing_keys.c.status == "retired",
                signing_keys.c.retired_at <= retired_before,
            )
        )

    async def replace_key_ciphertexts(
        self, replacements: Mapping[str, tuple[bytes, bytes]]
    ) -> None:
        """One transaction; each row changes only if it still holds the old ciphertext."""

        def replace(connection: Connection) -> None:
            for kid, (old, new) in replacements.items():
                result = connection.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid == kid, signing_keys.c.private_ciphertext == old)
                    .values(private_ciphertext=new)
                )
                if result.rowcount != 1:
                    # Leaving the transaction with an exception rolls every update back.
                    raise Conflict(f"key {kid!r} is gone or was changed meanwhile")

        await self._unit(replace, write=True)


def _key_conflict(key: SigningKey) -> str:
    if key.generation is None:
        return f"key {key.kid!r} already exists"
    return f"key {key.kid!r} or {key.alg} key generation {key.generation} already exists"
