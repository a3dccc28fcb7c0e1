"""Group commit of access-token records: one transaction for concurrent grants, and a
grant answers only after its own record is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tollhouse.errors import Conflict
from tollhouse.models import AccessTokenRecord
from tollhouse.storage.group_commit import GroupCommitRecords
from tollhouse.storage.memory import MemoryStorage
from tollhouse.storage.ports import Storage

from .records import NOW, access_token


class CountingStore(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def record_access_tokens(self, records: Sequence[AccessTokenRecord]) -> None:
        self.batches.append(len(records))
        await asyncio.sleep(0.01)  # a commit takes time; others arrive meanwhile
        await super().record_access_tokens(records)


async def test_concurrent_records_share_transactions_and_all_are_stored() -> None:
    store = CountingStore()
    group = GroupCommitRecords(store)

    await asyncio.gather(*(group.record_access_token(access_token(f"at-{n}")) for n in range(50)))

    assert sum(store.batches) == 50
    assert len(store.batches) <= 3  # the first alone, then the rest together
    for n in range(50):
        assert await group.get_access_token(f"at-{n}") is not None


async def test_batches_are_bounded() -> None:
    store = CountingStore()
    group = GroupCommitRecords(store, max_batch=8)
    await asyncio.gather(*(group.record_access_token(access_token(f"at-{n}")) for n in range(40)))
    assert max(store.batches) <= 8 and sum(store.batches) == 40


async def test_a_failed_batch_fails_every_grant_in_it() -> None:
    store = MemoryStorage()
    await store.record_access_token(access_token("taken"))
    group = GroupCommitRecords(store)

    with pytest.raises(Conflict):
        await group.record_access_token(access_token("taken"))
    await group.record_access_token(access_token("fresh"))  # the next batch is fine
    assert await store.get_access_token("fresh") is not None


async def test_bulk_record_is_all_or_nothing(storage: Storage) -> None:
    await storage.record_access_tokens([access_token("a"), access_token("b")])
    with pytest.raises(Conflict):
        await storage.record_access_tokens([access_token("c"), access_token("a")])
    assert await storage.get_access_token("c") is None
    assert [r.jti for r in await storage.access_tokens_of(NOW, client_id="client-1")] == ["a", "b"]
