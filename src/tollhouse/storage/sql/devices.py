"""The SQL adapter's store of RFC 8628 device authorizations.

A decision is one ``UPDATE … WHERE status = 'pending' AND expires_at > now``: of two
decisions (the person's and an operator's ``device deny``, or two instances), one
wins. Redemption is the authorization code's own single-use write (codes.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tollhouse.errors import Conflict
from tollhouse.models import DeviceAuthorization, DeviceStatus
from tollhouse.storage.sql.rows import Row, dump_strings, load_strings
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import device_authorizations

devices = device_authorizations


def device_row(device: DeviceAuthorization) -> dict[str, Any]:
    return {
        "device_code_hash": device.device_code_hash,
        "user_code_hash": device.user_code_hash,
        "client_id": device.client_id,
        "scopes": dump_strings(device.scopes),
        "audience": device.audience,
        "created_at": device.created_at,
        "expires_at": device.expires_at,
        "interval": device.interval,
        "ip": device.ip,
        "user_agent": device.user_agent,
        "status": device.status.value,
        "user_id": device.user_id,
        "decided_at": device.decided_at,
        "last_polled_at": device.last_polled_at,
    }


def to_device(row: Row) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code_hash=row["device_code_hash"],
        user_code_hash=row["user_code_hash"],
        client_id=row["client_id"],
        scopes=load_strings(row["scopes"]),
        audience=row["audience"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        interval=row["interval"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        status=DeviceStatus(row["status"]),
        user_id=row["user_id"],
        decided_at=row["decided_at"],
        last_polled_at=row["last_polled_at"],
    )


class SqlDevices(SqlRunner):
    """Implements ``DeviceStore`` of :mod:`tollhouse.storage.ports`."""

    async def add_device_authorization(self, device: DeviceAuthorization) -> None:
        await self._insert(
            devices, device_row(device), "device or user code exists, or the client does not"
        )

    async def get_device_authorization(self, device_code_hash: str) -> DeviceAuthorization | None:
        row = await self._one(select(devices).where(devices.c.device_code_hash == device_code_hash))
        return None if row is None else to_device(row)

    async def find_device_authorization(self, user_code_hash: str) -> DeviceAuthorization | None:
        row = await self._one(select(devices).where(devices.c.user_code_hash == user_code_hash))
        return None if row is None else to_device(row)

    async def record_device_poll(self, device_code_hash: str, now: int, interval: int) -> None:
        await self._count(
            update(devices)
            .where(devices.c.device_code_hash == device_code_hash)
            .values(last_polled_at=now, interval=interval)
        )

    async def decide_device_authorization(
        self, device_code_hash: str, status: DeviceStatus, user_id: str | None, now: int
    ) -> bool:
        statement = (
            update(devices)
            .where(
                devices.c.device_code_hash == device_code_hash,
                devices.c.status == DeviceStatus.PENDING.value,
                devices.c.expires_at > now,
            )
            .values(status=status.value, user_id=user_id, decided_at=now)
        )
        try:
            return await self._count(statement) == 1
        except IntegrityError as exc:
            raise Conflict("the user does not exist") from exc

    async def list_device_authorizations(self, now: int) -> list[DeviceAuthorization]:
        query = (
            select(devices)
            .where(devices.c.status == DeviceStatus.PENDING.value, devices.c.expires_at > now)
            .order_by(devices.c.created_at, devices.c.device_code_hash)
        )
        return [to_device(row) for row in await self._all(query)]
