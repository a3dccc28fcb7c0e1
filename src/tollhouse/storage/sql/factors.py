"""The SQL adapter's second factors: TOTP authenticators and recovery code digests.

Using a code is one conditional write, so two requests racing with the same code
cannot both succeed: the step only moves forward, a recovery code is deleted once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select, update

from tollhouse.models import TotpFactor
from tollhouse.storage.sql.rows import Row
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import user_recovery_codes, user_totp


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
            codes = connection.execute(
                delete(user_recovery_codes).where(user_recovery_codes.c.user_id == user_id)
            ).rowcount
            totp = connection.execute(
                delete(user_totp).where(user_totp.c.user_id == user_id)
            ).rowcount
            return bool(codes or totp)

        return await self._unit(reset, write=True)


def _factor(row: Row) -> TotpFactor:
    return TotpFactor(
        user_id=row["user_id"],
        sealed_secret=bytes(row["sealed_secret"]),
        confirmed=bool(row["confirmed"]),
        created_at=row["created_at"],
        last_step=row["last_step"],
    )
