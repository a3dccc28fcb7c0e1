"""The key store's contract (rotation, retirement, rewrap), on every backend.

Each test runs on memory, a SQLite file and PostgreSQL (see ``conftest``).
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.errors import Conflict
from tollhouse.storage.ports import Storage


async def test_rotation_fields_round_trip(storage: Storage) -> None:
    key = dataclasses.replace(make.key(), activates_at=NOW + 3600, generation=7)
    await storage.add_key(key)
    assert await storage.list_keys() == [key]


async def test_only_one_key_per_alg_and_generation(storage: Storage) -> None:
    """Two instances rotating at once insert the same next generation: one wins."""
    await storage.add_key(dataclasses.replace(make.key("first"), generation=2))
    with pytest.raises(Conflict, match="generation 2"):
        await storage.add_key(dataclasses.replace(make.key("second"), generation=2))
    other_alg = dataclasses.replace(make.key("rsa"), alg="RS256", generation=2)
    await storage.add_key(other_alg)
    assert {k.kid for k in await storage.list_keys()} == {"first", "rsa"}


async def test_keys_without_a_generation_never_clash(storage: Storage) -> None:
    await storage.add_key(make.key("a"))
    await storage.add_key(make.key("b"))
    assert len(await storage.list_keys()) == 2


async def test_delete_retired_keys_drops_only_those_retired_long_enough(
    storage: Storage,
) -> None:
    for kid in ("old", "recent", "active"):
        await storage.add_key(make.key(kid))
    await storage.set_key_status("old", "retired", NOW - 100)
    await storage.set_key_status("recent", "retired", NOW)
    assert await storage.delete_retired_keys(NOW - 100) == 1
    assert {k.kid for k in await storage.list_keys()} == {"recent", "active"}
    assert await storage.delete_retired_keys(NOW + 10**6) == 1
    assert [k.kid for k in await storage.list_keys()] == ["active"]


async def test_replace_key_ciphertexts_swaps_every_listed_key(storage: Storage) -> None:
    await storage.add_key(dataclasses.replace(make.key("a"), private_ciphertext=b"old-a"))
    await storage.add_key(dataclasses.replace(make.key("b"), private_ciphertext=b"old-b"))
    await storage.replace_key_ciphertexts({"a": (b"old-a", b"new-a"), "b": (b"old-b", b"new-b")})
    found = {k.kid: k.private_ciphertext for k in await storage.list_keys()}
    assert found == {"a": b"new-a", "b": b"new-b"}


@pytest.mark.parametrize("stale", ["changed", "missing"])
async def test_replace_key_ciphertexts_is_all_or_nothing(storage: Storage, stale: str) -> None:
    await storage.add_key(dataclasses.replace(make.key("a"), private_ciphertext=b"old-a"))
    await storage.add_key(dataclasses.replace(make.key("b"), private_ciphertext=b"moved-on"))
    other = "b" if stale == "changed" else "nope"
    with pytest.raises(Conflict, match=other):
        await storage.replace_key_ciphertexts(
            {"a": (b"old-a", b"new-a"), other: (b"old-b", b"new-b")}
        )
    found = {k.kid: k.private_ciphertext for k in await storage.list_keys()}
    assert found == {"a": b"old-a", "b": b"moved-on"}
