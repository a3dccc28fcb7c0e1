"""Storage contract for the interaction API: single-use interactions, admin tokens."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.models import AdminToken
from tollhouse.storage.ports import Storage


def admin_token(token_id: str = "admin-1", **extra: object) -> AdminToken:
    fields: dict[str, object] = {
        "token_id": token_id,
        "token_hash": f"hash-of-{token_id}",
        "name": "login app",
        "created_at": NOW,
        "expires_at": NOW + 3600,
    }
    fields.update(extra)
    return AdminToken(**fields)  # type: ignore[arg-type]


async def test_taking_an_interaction_removes_it(storage: Storage) -> None:
    await storage.add_interaction(make.interaction())
    assert await storage.take_interaction("interaction-hash-1", NOW) == make.interaction()
    assert await storage.take_interaction("interaction-hash-1", NOW) is None
    assert await storage.get_interaction("interaction-hash-1") is None


async def test_an_expired_interaction_cannot_be_taken(storage: Storage) -> None:
    await storage.add_interaction(make.interaction(expires_at=NOW))
    assert await storage.take_interaction("interaction-hash-1", NOW) is None


async def test_concurrent_takes_of_one_interaction_have_one_winner(storage: Storage) -> None:
    await storage.add_interaction(make.interaction())
    results = await asyncio.gather(
        *(storage.take_interaction("interaction-hash-1", NOW) for _ in range(5))
    )
    assert sum(result is not None for result in results) == 1


async def test_admin_token_is_found_by_its_hash_only(storage: Storage) -> None:
    await storage.add_admin_token(admin_token())
    assert await storage.get_admin_token("hash-of-admin-1") == admin_token()
    assert await storage.get_admin_token("admin-1") is None


async def test_duplicate_admin_token_is_a_conflict(storage: Storage) -> None:
    await storage.add_admin_token(admin_token())
    with pytest.raises(Conflict):
        await storage.add_admin_token(admin_token())
    with pytest.raises(Conflict):
        await storage.add_admin_token(admin_token("admin-2", token_hash="hash-of-admin-1"))


async def test_admin_tokens_list_newest_first_and_delete(storage: Storage) -> None:
    await storage.add_admin_token(admin_token("old"))
    await storage.add_admin_token(admin_token("new", created_at=NOW + 5))
    assert [t.token_id for t in await storage.list_admin_tokens()] == ["new", "old"]
    assert await storage.delete_admin_token("old") is True
    assert await storage.delete_admin_token("old") is False
    assert [t.token_id for t in await storage.list_admin_tokens()] == ["new"]


async def test_expired_admin_tokens_are_purged(storage: Storage) -> None:
    await storage.add_admin_token(admin_token("gone", expires_at=NOW - 1))
    await storage.add_admin_token(admin_token("kept"))
    assert await storage.purge_expired(NOW) >= 1
    assert [t.token_id for t in await storage.list_admin_tokens()] == ["kept"]
