"""Shared by the key tests: master keys, a fake ``KeyStore``, a counting box."""

from __future__ import annotations

import dataclasses

from tollhouse.keys import KeyRing
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox

BOX = SecretBox(bytes(range(32)))
NEW_BOX = SecretBox(bytes(range(32, 64)))
NOW = 1_800_000_000
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class FakeKeyStore:
    """The ``KeyStore`` port over a list, newest first."""

    def __init__(self, *initial: SigningKey) -> None:
        self.keys = sorted(initial, key=lambda k: k.created_at, reverse=True)
        self.list_calls = 0

    async def add_key(self, key: SigningKey) -> None:
        self.keys.insert(0, key)

    async def list_keys(self) -> list[SigningKey]:
        self.list_calls += 1
        return list(self.keys)

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        for i, key in enumerate(self.keys):
            if key.kid == kid:
                retired_at = at if status == "retired" else None
                self.keys[i] = dataclasses.replace(key, status=status, retired_at=retired_at)
                return True
        return False


class CountingBox(SecretBox):
    """The same master key as ``BOX``, counting how often a blob is opened."""

    def __init__(self) -> None:
        super().__init__(bytes(range(32)))
        self.opened: list[bytes] = []

    def open(self, blob: bytes, aad: bytes) -> bytes:
        self.opened.append(aad)
        return super().open(blob, aad)


async def due_reload(ring: KeyRing) -> bool:
    """One turn of :meth:`KeyRing.run_forever` without its sleep: reload if it is due."""
    if ring.seconds_to_reload() > 0:
        return False
    return await ring.reload()
