"""The storage contract for RFC 8628 device authorizations, on every backend.

Both codes are kept as fingerprints; a decision is taken once, only while the request
is pending and unexpired; deleting the client takes its requests along.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import DeviceAuthorization, DeviceStatus
from tollhouse.storage.ports import Storage


def device(name: str = "1", **extra: object) -> DeviceAuthorization:
    fields: dict[str, object] = {
        "device_code_hash": f"device-hash-{name}",
        "user_code_hash": f"user-hash-{name}",
        "client_id": "client-1",
        "scopes": ("openid", "read"),
        "audience": "https://api.example",
        "created_at": NOW,
        "expires_at": NOW + 600,
        "interval": 5,
        "ip": "192.0.2.7",
        "user_agent": "sensor-hub/1.0",
    }
    return DeviceAuthorization(**{**fields, **extra})  # type: ignore[arg-type]


async def with_device(storage: Storage) -> DeviceAuthorization:
    await storage.add_client(make.client())
    await storage.add_user(make.user())
    stored = device()
    await storage.add_device_authorization(stored)
    return stored


async def test_device_authorization_round_trips(storage: Storage) -> None:
    stored = await with_device(storage)
    assert await storage.get_device_authorization("device-hash-1") == stored
    assert await storage.find_device_authorization("user-hash-1") == stored
    assert await storage.get_device_authorization("user-hash-1") is None
    assert await storage.find_device_authorization("nope") is None


async def test_codes_are_unique_and_the_client_must_exist(storage: Storage) -> None:
    await with_device(storage)
    with pytest.raises(Conflict):
        await storage.add_device_authorization(device("2", user_code_hash="user-hash-1"))
    with pytest.raises(Conflict):
        await storage.add_device_authorization(device("1", user_code_hash="user-hash-9"))
    with pytest.raises(Conflict):
        await storage.add_device_authorization(device("3", client_id="ghost"))


async def test_a_poll_records_its_time_and_interval(storage: Storage) -> None:
    stored = await with_device(storage)
    await storage.record_device_poll("device-hash-1", NOW + 3, 10)
    polled = await storage.get_device_authorization("device-hash-1")
    assert polled == dataclasses.replace(stored, last_polled_at=NOW + 3, interval=10)


async def test_a_decision_is_taken_once(storage: Storage) -> None:
    stored = await with_device(storage)
    user_id = make.user().user_id
    decisions = await asyncio.gather(
        storage.decide_device_authorization(
            "device-hash-1", DeviceStatus.APPROVED, user_id, NOW + 1
        ),
        storage.decide_device_authorization("device-hash-1", DeviceStatus.DENIED, None, NOW + 1),
    )
    assert sorted(decisions) == [False, True]
    decided = await storage.get_device_authorization("device-hash-1")
    assert decided is not None and decided.status != DeviceStatus.PENDING
    assert decided.decided_at == NOW + 1
    if decided.status == DeviceStatus.APPROVED:
        assert decided == dataclasses.replace(
            stored, status=DeviceStatus.APPROVED, user_id=user_id, decided_at=NOW + 1
        )


async def test_no_decision_after_expiry(storage: Storage) -> None:
    await with_device(storage)
    assert not await storage.decide_device_authorization(
        "device-hash-1", DeviceStatus.DENIED, None, NOW + 600
    )
    assert not await storage.decide_device_authorization("unknown", DeviceStatus.DENIED, None, NOW)


async def test_list_shows_pending_unexpired_requests_oldest_first(storage: Storage) -> None:
    await with_device(storage)
    older = device("0", created_at=NOW - 5)
    expired = device("2", expires_at=NOW + 10)
    decided = device("3")
    for extra in (older, expired, decided):
        await storage.add_device_authorization(extra)
    await storage.decide_device_authorization("device-hash-3", DeviceStatus.DENIED, None, NOW)
    listed = await storage.list_device_authorizations(NOW + 10)
    assert [d.device_code_hash for d in listed] == ["device-hash-0", "device-hash-1"]


async def test_deleting_the_client_or_purging_removes_requests(storage: Storage) -> None:
    await with_device(storage)
    await storage.add_client(make.client("client-2"))
    await storage.add_device_authorization(device("2", client_id="client-2"))
    await storage.delete_client("client-1")
    assert await storage.get_device_authorization("device-hash-1") is None
    assert await storage.purge_expired(NOW + 600) >= 1
    assert await storage.get_device_authorization("device-hash-2") is None
