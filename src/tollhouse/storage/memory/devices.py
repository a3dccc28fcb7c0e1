"""The in-memory store of RFC 8628 device authorizations."""

from __future__ import annotations

import dataclasses

from tollhouse.errors import Conflict
from tollhouse.models import DeviceAuthorization, DeviceStatus
from tollhouse.storage.memory.tables import MemoryTables


class MemoryDevices(MemoryTables):
    """Implements ``DeviceStore`` of :mod:`tollhouse.storage.ports`."""

    async def add_device_authorization(self, device: DeviceAuthorization) -> None:
        taken = {d.user_code_hash for d in self._devices.values()}
        if (
            device.device_code_hash in self._devices
            or device.user_code_hash in taken
            or device.client_id not in self._clients
        ):
            raise Conflict("device or user code exists, or the client does not")
        self._devices[device.device_code_hash] = device

    async def get_device_authorization(self, device_code_hash: str) -> DeviceAuthorization | None:
        return self._devices.get(device_code_hash)

    async def find_device_authorization(self, user_code_hash: str) -> DeviceAuthorization | None:
        for device in self._devices.values():
            if device.user_code_hash == user_code_hash:
                return device
        return None

    async def record_device_poll(self, device_code_hash: str, now: int, interval: int) -> None:
        device = self._devices.get(device_code_hash)
        if device is not None:
            polled = dataclasses.replace(device, last_polled_at=now, interval=interval)
            self._devices[device_code_hash] = polled

    async def decide_device_authorization(
        self, device_code_hash: str, status: DeviceStatus, user_id: str | None, now: int
    ) -> bool:
        device = self._devices.get(device_code_hash)
        if device is None or device.status != DeviceStatus.PENDING or device.expires_at <= now:
            return False
        if user_id is not None and user_id not in self._users:
            raise Conflict("the user does not exist")
        decided = dataclasses.replace(device, status=status, user_id=user_id, decided_at=now)
        self._devices[device_code_hash] = decided
        return True

    async def list_device_authorizations(self, now: int) -> list[DeviceAuthorization]:
        pending = [
            d
            for d in self._devices.values()
            if d.status == DeviceStatus.PENDING and d.expires_at > now
        ]
        return sorted(pending, key=lambda d: (d.created_at, d.device_code_hash))
