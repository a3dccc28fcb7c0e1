"""The registration token store and the client updates registration needs, on every
backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import InitialAccessToken, RegistrationAccessToken
from tollhouse.storage.memory import MemoryStorage
from tollhouse.storage.ports import Storage


def initial(
    token_hash: str = "iat-1", *, uses: int = 1, expires_at: int = NOW + 60
) -> InitialAccessToken:
    return InitialAccessToken(token_hash, NOW, expires_at, uses)


async def test_initial_access_token_round_trips(storage: Storage) -> None:
    await storage.add_initial_access_token(initial(uses=3))
    assert await storage.get_initial_access_token("iat-1") == initial(uses=3)
    assert await storage.get_initial_access_token("nope") is None
    with pytest.raises(Conflict):
        await storage.add_initial_access_token(initial())


async def test_initial_access_token_is_spent_one_use_at_a_time(storage: Storage) -> None:
    await storage.add_initial_access_token(initial(uses=2))
    first = await storage.use_initial_access_token("iat-1", NOW)
    second = await storage.use_initial_access_token("iat-1", NOW)
    assert first is not None and first.uses_left == 1
    assert second is not None and second.uses_left == 0
    assert await storage.use_initial_access_token("iat-1", NOW) is None
    assert await storage.use_initial_access_token("nope", NOW) is None


async def test_expired_initial_access_token_cannot_be_spent(storage: Storage) -> None:
    await storage.add_initial_access_token(initial(uses=5, expires_at=NOW + 10))
    assert await storage.use_initial_access_token("iat-1", NOW + 10) is None
    found = await storage.get_initial_access_token("iat-1")
    assert found is not None and found.uses_left == 5


async def test_concurrent_registrations_spend_exactly_the_uses_left(storage: Storage) -> None:
    await storage.add_initial_access_token(initial(uses=3))
    if isinstance(storage, MemoryStorage):
        spent = [await storage.use_initial_access_token("iat-1", NOW) for _ in range(20)]
    else:
        spent = list(
            await asyncio.gather(
                *(storage.use_initial_access_token("iat-1", NOW) for _ in range(20))
            )
        )
    assert sum(result is not None for result in spent) == 3
    found = await storage.get_initial_access_token("iat-1")
    assert found is not None and found.uses_left == 0


async def test_expired_initial_access_tokens_are_purged(storage: Storage) -> None:
    await storage.add_initial_access_token(initial("old", expires_at=NOW + 5))
    await storage.add_initial_access_token(initial("live", expires_at=NOW + 500))
    await storage.purge_expired(NOW + 10)
    assert await storage.get_initial_access_token("old") is None
    assert await storage.get_initial_access_token("live") is not None


async def test_registration_access_token_is_set_replaced_and_goes_with_its_client(
    storage: Storage,
) -> None:
    await storage.add_client(make.client("dyn"))
    await storage.set_registration_access_token(RegistrationAccessToken("dyn", "h1", NOW))
    assert await storage.get_registration_access_token("dyn") == RegistrationAccessToken(
        "dyn", "h1", NOW
    )
    await storage.set_registration_access_token(RegistrationAccessToken("dyn", "h2", NOW + 1))
    found = await storage.get_registration_access_token("dyn")
    assert found is not None and found.token_hash == "h2"
    await storage.delete_client("dyn")
    assert await storage.get_registration_access_token("dyn") is None


async def test_registration_access_token_needs_an_existing_client(storage: Storage) -> None:
    with pytest.raises(Conflict):
        await storage.set_registration_access_token(RegistrationAccessToken("ghost", "h", NOW))


async def test_registration_access_token_rotation_is_compare_and_swap(storage: Storage) -> None:
    await storage.add_client(make.client("dyn"))
    await storage.set_registration_access_token(RegistrationAccessToken("dyn", "h1", NOW))
    new = RegistrationAccessToken("dyn", "h2", NOW + 1)
    assert await storage.replace_registration_access_token("dyn", "h1", new) is True
    stale = RegistrationAccessToken("dyn", "h3", NOW + 2)
    assert await storage.replace_registration_access_token("dyn", "h1", stale) is False
    found = await storage.get_registration_access_token("dyn")
    assert found is not None and found.token_hash == "h2"
    assert await storage.replace_registration_access_token("ghost", "h1", new) is False


async def test_update_client_overwrites_everything_but_reports_a_missing_client(
    storage: Storage,
) -> None:
    original = make.client("c1")
    await storage.add_client(original)
    changed = dataclasses.replace(
        original,
        name="Renamed",
        redirect_uris=("https://new.example/cb",),
        scopes=None,
        secret_hash=None,
        token_endpoint_auth_method="none",
    )
    assert await storage.update_client(changed) is True
    assert await storage.get_client("c1") == changed
    assert await storage.update_client(make.client("ghost")) is False
    assert await storage.get_client("ghost") is None


async def test_rotated_secret_keeps_the_previous_hash_until_its_expiry(storage: Storage) -> None:
    await storage.add_client(make.client("c1", secret_hash="old"))
    assert await storage.set_client_secret(
        "c1", "new", previous_secret_hash="old", previous_secret_expires_at=NOW + 60
    )
    client = await storage.get_client("c1")
    assert client is not None
    assert (client.secret_hash, client.previous_secret_hash) == ("new", "old")
    assert client.previous_secret_expires_at == NOW + 60
    assert await storage.set_client_secret("c1", "newer")
    client = await storage.get_client("c1")
    assert client is not None
    assert client.previous_secret_hash is None and client.previous_secret_expires_at is None
