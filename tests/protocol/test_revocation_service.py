from __future__ import annotations

import pytest

from tollhouse.clock import FrozenClock
from tollhouse.errors import TemporarilyUnavailable
from tollhouse.models import AccessTokenRecord, AuthMethod, Client, Revocation, TokenFamily, User
from tollhouse.protocol.revocation import Revoker
from tollhouse.storage.memory import MemoryStorage


class DownMirror:
    async def revoke(self, revocation: Revocation) -> None:
        raise ConnectionError("mirror down")

    async def is_revoked(self, jti: str, now: int) -> bool:
        raise ConnectionError("mirror down")


async def test_family_revocation_reaches_the_database_even_when_a_mirror_is_down() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    now = clock.now()
    await storage.add_client(
        Client("c", "C", (), ("client_credentials",), AuthMethod.CLIENT_SECRET_BASIC, now, "h")
    )
    await storage.add_user(User("u", "u", "h", now))
    await storage.add_family(TokenFamily("f", "c", "u", now, now + 100))
    for jti in ("a", "b", "c"):
        await storage.record_access_token(AccessTokenRecord(jti, "c", "u", now + 60, now, "f"))
    revoker = Revoker(storage, storage, storage, clock, (DownMirror(),))
    with pytest.raises(TemporarilyUnavailable):
        await revoker.revoke_family("f", "refresh_replay")
    assert [await storage.is_revoked(j, now) for j in ("a", "b", "c")] == [True, True, True]
    family = await storage.get_family("f")
    assert family is not None and family.revoked_at == now
