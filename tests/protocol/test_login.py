"""Password sign-in on the in-memory store, with real argon2id through a real hash gate:
a correct password whose hash was made with other parameters is re-hashed with the
configured ones; nothing else changes what is stored."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from tollhouse.models import User
from tollhouse.protocol.login import PasswordLogin
from tollhouse.provider.parts import OffloadedVerifier
from tollhouse.security.hash_gate import HashGate
from tollhouse.security.passwords import PasswordHasher
from tollhouse.storage.memory import MemoryStorage

PASSWORD = "correct horse battery staple"
OLD = PasswordHasher.for_tests()
"""The cheap profile a user may have been created with (m=8 KiB, t=1, p=1)."""
CURRENT_PARAMS = "$argon2id$v=19$m=16,t=2,p=1$"


class RecordingHasher(PasswordHasher):
    """The configured profile (kept cheap for unit tests), noting the threads it hashes in."""

    def __init__(self) -> None:
        super().__init__(time_cost=2, memory_kib=16, parallelism=1)
        self.hashed_in: list[str] = []

    def hash(self, password: str) -> str:
        self.hashed_in.append(threading.current_thread().name)
        return super().hash(password)


class BrokenUpgrades(MemoryStorage):
    """A store whose conditional update fails, as a database that went away would."""

    async def upgrade_password_hash(self, user_id: str, verified_hash: str, new_hash: str) -> bool:
        raise ConnectionError("database unavailable")


def login(storage: MemoryStorage, hasher: PasswordHasher) -> PasswordLogin:
    return PasswordLogin(storage, OffloadedVerifier(hasher, HashGate(2, 4, 5.0)))


async def with_alice(storage: MemoryStorage, password_hash: str) -> User:
    user = User("sub-alice", "alice", password_hash, int(time.time()))
    await storage.add_user(user)
    return user


async def stored_hash(storage: MemoryStorage) -> str:
    user = await storage.get_user("sub-alice")
    assert user is not None
    return user.password_hash


async def test_a_correct_password_upgrades_a_hash_made_with_other_parameters() -> None:
    storage, hasher = MemoryStorage(), RecordingHasher()
    await with_alice(storage, OLD.hash(PASSWORD))

    user = await login(storage, hasher).authenticate("alice", PASSWORD)

    assert user is not None and user.user_id == "sub-alice"
    upgraded = await stored_hash(storage)
    assert upgraded.startswith(CURRENT_PARAMS)
    assert hasher.verify(upgraded, PASSWORD) and not hasher.needs_rehash(upgraded)
    # argon2 work runs in the gate's threads, never on the event loop's.
    assert hasher.hashed_in and all(n.startswith("password-check") for n in hasher.hashed_in)
    assert await login(storage, hasher).authenticate("alice", PASSWORD) is not None


async def test_a_wrong_password_changes_nothing_stored() -> None:
    storage, hasher = MemoryStorage(), RecordingHasher()
    old_hash = (await with_alice(storage, OLD.hash(PASSWORD))).password_hash

    assert await login(storage, hasher).authenticate("alice", "wrong " + PASSWORD) is None

    assert await stored_hash(storage) == old_hash
    assert hasher.hashed_in == []


async def test_a_hash_with_the_configured_parameters_is_left_alone() -> None:
    storage, hasher = MemoryStorage(), RecordingHasher()
    current = (await with_alice(storage, hasher.hash(PASSWORD))).password_hash
    hasher.hashed_in.clear()

    assert await login(storage, hasher).authenticate("alice", PASSWORD) is not None

    assert await stored_hash(storage) == current
    assert hasher.hashed_in == []


async def test_a_password_changed_during_the_upgrade_is_kept() -> None:
    storage = MemoryStorage()
    await with_alice(storage, OLD.hash(PASSWORD))
    admins_hash = OLD.hash("set by the admin meanwhile")

    class AdminChangesMeanwhile(RecordingHasher):
        def hash(self, password: str) -> str:
            # The admin's change lands between the check and the upgrade's write.
            asyncio.run(storage.set_password("alice", admins_hash))
            return super().hash(password)

    assert await login(storage, AdminChangesMeanwhile()).authenticate("alice", PASSWORD)

    assert await stored_hash(storage) == admins_hash


async def test_a_failed_upgrade_is_logged_without_secrets_and_the_sign_in_proceeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = BrokenUpgrades()
    old_hash = (await with_alice(storage, OLD.hash(PASSWORD))).password_hash

    with caplog.at_level(logging.WARNING, logger="tollhouse.security"):
        user = await login(storage, RecordingHasher()).authenticate("alice", PASSWORD)

    assert user is not None and user.user_id == "sub-alice"
    assert await stored_hash(storage) == old_hash
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "password_rehash_failed"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["user_id"] == "sub-alice"
    assert record.__dict__["error"] == "ConnectionError"
    logged = repr(record.__dict__)
    assert PASSWORD not in logged and old_hash not in logged and "$argon2id$" not in logged
