"""The SQL adapter's second factors: TOTP authenticators and recovery code digests.

Using a code is one conditional write, so two requests racing with the same code
cannot both succeed: the step only moves forward, a recovery code is deleted once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select, update

from tollhouse.models import Passkey, TotpFactor
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import user_passkeys, user_recovery_codes, user_totp


class SqlFactors(SqlRunner):
    """Implements ``FactorStore`` of :mod:`tollhouse.storage.ports`."""

    async def get_totp(self, user_id: str) -> TotpFactor | None:
        row = await self._one(select(user_totp).where(user_totp.c.user_id == user_id))
        return None if row is None else _factor(row)

    async def list_totp(self) -> list[TotpFactor]:
        return [_factor(row) for row in await self._all(select(user_totp))]

    async def put_totp(self, factor: TotpFactor) -> None:
        values = {
            "user_id": factor.user_id,
            "sealed_secret": factor.sealed_secret,
            "confirmed": factor.confirmed,
            "created_at": factor.created_at,
            "last_step": factor.last_step,
        }

        def replace(connection: Connection) -> None:
            connection.execute(delete(user_totp).where(user_totp.c.user_id == factor.user_id))
            connection.execute(insert(user_totp).values(values))

        await self._unit(replace, write=True)

    async def confirm_totp(self, user_id: str, step: int) -> bool:
        statement = (
            update(user_totp)
            .where(user_totp.c.user_id == user_id, user_totp.c.confirmed.is_(False))
            .values(confirmed=True, last_step=step)
        )
        return await self._count(statement) > 0

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        statement = (
            update(user_totp)
            .where(
                user_totp.c.user_id == user_id,
                user_totp.c.confirmed.is_(True),
                (user_totp.c.last_step.is_(None)) | (user_totp.c.last_step < step),
            )
            .values(last_step=step)
        )
        return await self._count(statement) > 0

    async def set_recovery_codes(self, user_id: str, digests: Sequence[str]) -> None:
        def replace(connection: Connection) -> None:
            connection.execute(
                delete(user_recovery_codes).where(user_recovery_codes.c.user_id == user_id)
            )
            if digests:
                connection.execute(
                    insert(user_recovery_codes),
                    [{"user_id": user_id, "digest": d} for d in digests],
                )

        await self._unit(replace, write=True)

    async def recovery_codes_left(self, user_id: str) -> int:
        statement = select(func.count()).where(user_recovery_codes.c.user_id == user_id)
        row = await self._one(statement.select_from(user_recovery_codes))
        return 0 if row is None else int(next(iter(row.values())))

    async def use_recovery_code(self, user_id: str, digest: str) -> bool:
        statement = delete(user_recovery_codes).where(
            user_recovery_codes.c.user_id == user_id, user_recovery_codes.c.digest == digest
        )
        return await self._count(statement) > 0

    async def reset_factors(self, user_id: str) -> bool:
        def reset(connection: Connection) -> bool:
            removed = 0
            for table in (user_recovery_codes, user_totp, user_passkeys):
                removed += connection.execute(
                    delete(table).where(table.c.user_id == user_id)
                ).rowcount
            return removed > 0

        return await self._unit(reset, write=True)

    async def add_passkey(self, passkey: Passkey) -> None:
        values = {
            "credential_id": passkey.credential_id,
            "user_id": passkey.user_id,
            "public_key": passkey.public_key,
            "sign_count": passkey.sign_count,
            "created_at": passkey.created_at,
        }
        await self._insert(user_passkeys, values, "this passkey is registered already")

    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        statement = select(user_passkeys).where(user_passkeys.c.user_id == user_id)
        found = await self._all(statement.order_by(user_passkeys.c.created_at))
        return [
            Passkey(
                credential_id=row["credential_id"],
                user_id=row["user_id"],
                public_key=bytes(row["public_key"]),
                sign_count=row["sign_count"],
                created_at=row["created_at"],
            )
            for row in found
        ]

    async def use_passkey(self, credential_id: str, seen: int, new: int) -> bool:
        statement = (
            update(user_passkeys)
            .where(
                user_passkeys.c.credential_id == credential_id,
                user_passkeys.c.sign_count == seen,
            )
            .values(sign_count=new)
        )
        return await self._count(statement) > 0


def _factor(row: Row) -> TotpFactor:
    return TotpFactor(
        user_id=row["user_id"],
        sealed_secret=bytes(row["sealed_secret"]),
        confirmed=bool(row["confirmed"]),
        created_at=row["created_at"],
        last_step=row["last_step"],
    )
