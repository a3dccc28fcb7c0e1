"""The storage contract for second factors: one TOTP authenticator per user whose used
time step only moves forward, single-use recovery code digests, and reset. Each test
runs on memory, a SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import Passkey, TotpFactor
from tollhouse.storage.ports import Storage


def factor(*, confirmed: bool = True, sealed: bytes = b"\x01sealed") -> TotpFactor:
    return TotpFactor("sub-alice", sealed, confirmed, NOW)


async def test_an_authenticator_is_stored_replaced_and_confirmed(storage: Storage) -> None:
    await storage.add_user(make.user())
    assert await storage.get_totp("sub-alice") is None
    await storage.put_totp(factor(confirmed=False))
    assert await storage.get_totp("sub-alice") == factor(confirmed=False)
    assert not await storage.use_totp_step("sub-alice", 10)  # not confirmed yet
    assert await storage.confirm_totp("sub-alice", 10)
    assert not await storage.confirm_totp("sub-alice", 11)  # once
    stored = await storage.get_totp("sub-alice")
    assert stored is not None and stored.confirmed and stored.last_step == 10
    await storage.put_totp(factor(sealed=b"\x01other"))
    replaced = await storage.get_totp("sub-alice")
    assert replaced is not None and replaced.sealed_secret == b"\x01other"
    assert replaced.last_step is None


async def test_a_time_step_is_used_once_and_never_an_earlier_one(storage: Storage) -> None:
    await storage.add_user(make.user())
    await storage.put_totp(factor())
    assert await storage.use_totp_step("sub-alice", 100)
    assert not await storage.use_totp_step("sub-alice", 100)
    assert not await storage.use_totp_step("sub-alice", 99)
    assert await storage.use_totp_step("sub-alice", 101)


async def test_of_two_racing_uses_of_a_step_one_wins(storage: Storage) -> None:
    await storage.add_user(make.user())
    await storage.put_totp(factor())
    results = await asyncio.gather(*(storage.use_totp_step("sub-alice", 7) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]


async def test_recovery_codes_work_once_and_are_replaced(storage: Storage) -> None:
    await storage.add_user(make.user())
    await storage.set_recovery_codes("sub-alice", ["a" * 64, "b" * 64])
    assert await storage.recovery_codes_left("sub-alice") == 2
    assert await storage.use_recovery_code("sub-alice", "a" * 64)
    assert not await storage.use_recovery_code("sub-alice", "a" * 64)
    assert await storage.recovery_codes_left("sub-alice") == 1
    await storage.set_recovery_codes("sub-alice", ["c" * 64])
    assert not await storage.use_recovery_code("sub-alice", "b" * 64)
    assert await storage.recovery_codes_left("sub-alice") == 1


async def test_reset_and_deleting_the_user_remove_the_factors(storage: Storage) -> None:
    await storage.add_user(make.user())
    assert not await storage.reset_factors("sub-alice")
    await storage.put_totp(factor())
    await storage.set_recovery_codes("sub-alice", ["a" * 64])
    assert await storage.reset_factors("sub-alice")
    assert await storage.get_totp("sub-alice") is None
    assert await storage.recovery_codes_left("sub-alice") == 0
    await storage.put_totp(factor())
    await storage.set_recovery_codes("sub-alice", ["a" * 64])
    assert await storage.delete_user("alice")
    assert await storage.get_totp("sub-alice") is None
    assert await storage.recovery_codes_left("sub-alice") == 0


async def test_a_client_keeps_require_mfa(storage: Storage) -> None:
    await storage.add_client(make.client(require_mfa=True))
    stored = await storage.get_client("client-1")
    assert stored is not None and stored.require_mfa and not stored.require_passkey
    await storage.add_client(make.client("client-2", require_passkey=True))
    strict = await storage.get_client("client-2")
    assert strict is not None and strict.require_passkey


async def test_passkeys_are_listed_counted_once_and_reset(storage: Storage) -> None:
    await storage.add_user(make.user())
    key = Passkey("cred-1", "sub-alice", b"\x01cose", 0, NOW)
    await storage.add_passkey(key)
    await storage.add_passkey(Passkey("cred-2", "sub-alice", b"\x02cose", 5, NOW + 1))
    with pytest.raises(Conflict):
        await storage.add_passkey(key)
    assert [p.credential_id for p in await storage.list_passkeys("sub-alice")] == [
        "cred-1",
        "cred-2",
    ]
    assert await storage.use_passkey("cred-2", 5, 6)
    assert not await storage.use_passkey("cred-2", 5, 7)  # another use moved it first
    assert (await storage.list_passkeys("sub-alice"))[1].sign_count == 6
    assert await storage.reset_factors("sub-alice")
    assert await storage.list_passkeys("sub-alice") == []
