"""The client/API caches: bounded, expiring, dropped on local writes and when the
registry change counter moves (a write by another process)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tollhouse.models import Api, Client
from tollhouse.storage.hot_cache import CachedApis, CachedClients, RegistryWatch
from tollhouse.storage.memory import MemoryStorage

NOW = 1_800_000_000


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client(client_id: str = "c1", secret_hash: str = "hmac-sha256$a") -> Client:
    return Client(
        client_id, client_id, (), ("client_credentials",), "client_secret_basic", NOW, secret_hash
    )


async def test_a_client_deleted_elsewhere_stops_working_within_the_ttl() -> None:
    store, tick = MemoryStorage(), Ticker()
    cached = CachedClients(store, ttl=5, monotonic=tick)
    await store.add_client(client())
    assert await cached.get_client("c1") is not None

    await store.delete_client("c1")  # another process: this cache is not told
    tick.now += 4.9
    assert await cached.get_client("c1") is not None
    tick.now += 0.2
    assert await cached.get_client("c1") is None


async def test_a_rotated_secret_is_seen_within_the_ttl() -> None:
    store, tick = MemoryStorage(), Ticker()
    cached = CachedClients(store, ttl=5, monotonic=tick)
    await store.add_client(client())
    await cached.get_client("c1")
    await store.set_client_secret("c1", "hmac-sha256$b")
    tick.now += 5
    found = await cached.get_client("c1")
    assert found is not None and found.secret_hash == "hmac-sha256$b"


async def test_writes_through_the_cache_apply_at_once() -> None:
    store = MemoryStorage()
    cached = CachedClients(store, ttl=60)
    await cached.add_client(client())
    assert await cached.get_client("c1") is not None
    await cached.set_client_secret("c1", "hmac-sha256$new")
    assert (await cached.get_client("c1")).secret_hash == "hmac-sha256$new"  # type: ignore[union-attr]
    updated = dataclasses.replace(client(), name="renamed", secret_hash="hmac-sha256$new")
    await cached.update_client(updated)
    assert (await cached.get_client("c1")).name == "renamed"  # type: ignore[union-attr]
    assert await cached.delete_client("c1")
    assert await cached.get_client("c1") is None


async def test_unknown_clients_are_not_cached() -> None:
    store = MemoryStorage()
    cached = CachedClients(store, ttl=60)
    assert await cached.get_client("c1") is None
    await store.add_client(client())  # created by the CLI a moment later
    assert await cached.get_client("c1") is not None
    assert len(cached) == 1


async def test_the_client_cache_is_bounded() -> None:
    store = MemoryStorage()
    cached = CachedClients(store, ttl=60, max_entries=3)
    for n in range(10):
        await store.add_client(client(f"c{n}"))
        await cached.get_client(f"c{n}")
    assert len(cached) == 3


async def test_ttl_zero_turns_the_cache_off() -> None:
    store = MemoryStorage()
    cached = CachedClients(store, ttl=0)
    await store.add_client(client())
    await cached.get_client("c1")
    await store.delete_client("c1")
    assert await cached.get_client("c1") is None


async def test_api_list_is_cached_for_the_ttl_and_dropped_on_local_writes() -> None:
    store, tick = MemoryStorage(), Ticker()
    apis = CachedApis(store, ttl=5, monotonic=tick)
    await store.add_api(Api("https://a.test", ("a",), NOW))
    assert [a.identifier for a in await apis.list_apis()] == ["https://a.test"]
    await store.add_api(Api("https://b.test", ("b",), NOW))  # elsewhere
    assert len(await apis.list_apis()) == 1
    tick.now += 5
    assert len(await apis.list_apis()) == 2
    await apis.add_api(Api("https://c.test", ("c",), NOW))  # through the cache
    assert len(await apis.list_apis()) == 3


def watched(store: MemoryStorage, tick: Ticker) -> tuple[CachedClients, CachedApis]:
    watch = RegistryWatch(store, interval=0.5, monotonic=tick)
    return (
        CachedClients(store, watch=watch, ttl=60, monotonic=tick),
        CachedApis(store, watch=watch, ttl=60, monotonic=tick),
    )


class CountingVersion:
    """A ``RegistryVersion`` that counts how often it is read."""

    def __init__(self, store: MemoryStorage) -> None:
        self.store, self.reads = store, 0

    async def registry_version(self) -> int:
        self.reads += 1
        await asyncio.sleep(0)
        return await self.store.registry_version()


async def test_a_client_deleted_elsewhere_is_dropped_within_the_check_interval() -> None:
    store, tick = MemoryStorage(), Ticker()
    cached, _ = watched(store, tick)
    await store.add_client(client())
    assert await cached.get_client("c1") is not None

    await store.delete_client("c1")  # another process: only the counter tells
    tick.now += 0.4
    assert await cached.get_client("c1") is not None
    tick.now += 0.1
    assert await cached.get_client("c1") is None


async def test_a_secret_rotated_elsewhere_is_seen_within_the_check_interval() -> None:
    store, tick = MemoryStorage(), Ticker()
    cached, _ = watched(store, tick)
    await store.add_client(client())
    await cached.get_client("c1")
    await store.set_client_secret("c1", "hmac-sha256$b")
    tick.now += 0.5
    found = await cached.get_client("c1")
    assert found is not None and found.secret_hash == "hmac-sha256$b"


async def test_an_api_added_elsewhere_is_seen_within_the_check_interval() -> None:
    store, tick = MemoryStorage(), Ticker()
    _, apis = watched(store, tick)
    assert await apis.list_apis() == []
    await store.add_api(Api("https://a.test", ("a",), NOW))
    tick.now += 0.5
    assert [a.identifier for a in await apis.list_apis()] == ["https://a.test"]


async def test_the_counter_is_read_at_most_once_per_interval_for_all_requests() -> None:
    store, tick = MemoryStorage(), Ticker()
    version = CountingVersion(store)
    watch = RegistryWatch(version, interval=0.5, monotonic=tick)
    cached = CachedClients(store, watch=watch, ttl=60, monotonic=tick)
    await store.add_client(client())
    await asyncio.gather(*(cached.get_client("c1") for _ in range(50)))
    assert version.reads == 1
    tick.now += 0.3
    await cached.get_client("c1")
    assert version.reads == 1
    tick.now += 0.3
    await asyncio.gather(*(cached.get_client("c1") for _ in range(50)))
    assert version.reads == 2


class GatedReads(MemoryStorage):
    """A store that counts client and API reads and holds each until ``release`` is
    set, so that requests arriving meanwhile overlap with it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.client_reads = self.api_reads = 0
        self.fail: Exception | None = None

    async def get_client(self, client_id: str) -> Client | None:
        self.client_reads += 1
        found = await super().get_client(client_id)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return found

    async def list_apis(self) -> list[Api]:
        self.api_reads += 1
        found = await super().list_apis()
        await self.release.wait()
        return found


async def test_a_read_overtaken_by_a_change_is_not_cached() -> None:
    store, tick = GatedReads(), Ticker()
    watch = RegistryWatch(store, interval=0.5, monotonic=tick)
    cached = CachedClients(store, watch=watch, ttl=60, monotonic=tick)
    await store.add_client(client())
    reading = asyncio.create_task(cached.get_client("c1"))
    await asyncio.sleep(0.01)  # the read has fetched the old row and waits
    await store.delete_client("c1")
    cached.forget("c1")
    watch.changed_here()
    store.release.set()
    assert await reading is not None
    assert len(cached) == 0


class BrokenVersion:
    async def registry_version(self) -> int:
        raise OSError("database down")


async def test_an_unreadable_counter_trusts_nothing_cached() -> None:
    store, tick = MemoryStorage(), Ticker()
    watch = RegistryWatch(BrokenVersion(), interval=0.5, monotonic=tick)
    cached = CachedClients(store, watch=watch, ttl=60, monotonic=tick)
    await store.add_client(client())
    await cached.get_client("c1")
    await store.delete_client("c1")
    tick.now += 0.5
    assert await cached.get_client("c1") is None


async def test_requests_that_miss_together_share_one_read() -> None:
    store, tick = GatedReads(), Ticker()
    clients, apis = watched(store, tick)
    await store.add_client(client())
    await store.add_api(Api("https://a.test", ("a",), NOW))
    waiting = [asyncio.create_task(clients.get_client("c1")) for _ in range(50)]
    listing = [asyncio.create_task(apis.api_snapshot()) for _ in range(50)]
    await asyncio.sleep(0.01)
    store.release.set()
    found = await asyncio.gather(*waiting)
    snapshots = await asyncio.gather(*listing)
    assert (store.client_reads, store.api_reads) == (1, 1)
    assert {c.client_id for c in found if c is not None} == {"c1"} and None not in found
    assert all(s is snapshots[0] for s in snapshots)  # one index build for all of them
    await clients.get_client("c1")
    await apis.api_snapshot()
    assert (store.client_reads, store.api_reads) == (1, 1)  # and the answer is cached


async def test_a_request_that_goes_away_leaves_the_shared_read_to_the_others() -> None:
    store, tick = GatedReads(), Ticker()
    clients, _ = watched(store, tick)
    await store.add_client(client())
    first = asyncio.create_task(clients.get_client("c1"))
    second = asyncio.create_task(clients.get_client("c1"))
    await asyncio.sleep(0.01)
    first.cancel()
    store.release.set()
    found = await second
    assert found is not None and found.client_id == "c1"
    assert first.cancelled() and store.client_reads == 1


@pytest.mark.parametrize("watch", [True, False], ids=["watched", "unwatched"])
async def test_a_request_after_a_write_does_not_join_a_read_from_before_it(watch: bool) -> None:
    store, tick = GatedReads(), Ticker()
    if watch:
        clients, apis = watched(store, tick)
    else:
        clients = CachedClients(store, ttl=60, monotonic=tick)
        apis = CachedApis(store, ttl=60, monotonic=tick)
    await store.add_client(client(secret_hash="hmac-sha256$old"))
    before = asyncio.create_task(clients.get_client("c1"))
    listed_before = asyncio.create_task(apis.api_snapshot())
    await asyncio.sleep(0.01)
    await clients.set_client_secret("c1", "hmac-sha256$new")
    await apis.add_api(Api("https://a.test", ("a",), NOW))
    after = asyncio.create_task(clients.get_client("c1"))
    listed_after = asyncio.create_task(apis.api_snapshot())
    await asyncio.sleep(0.01)
    store.release.set()
    old, new = await before, await after
    assert old is not None and old.secret_hash == "hmac-sha256$old"
    assert new is not None and new.secret_hash == "hmac-sha256$new"
    assert await listed_before == () and len(await listed_after) == 1
    assert (store.client_reads, store.api_reads) == (2, 2)
    if not watch:
        return  # without a change counter, the read from before the write is kept
    cached = await clients.get_client("c1")
    assert cached is not None and cached.secret_hash == "hmac-sha256$new"
    assert len(await apis.api_snapshot()) == 1


async def test_a_failed_shared_read_fails_its_waiters_and_is_not_kept() -> None:
    store, tick = GatedReads(), Ticker()
    clients, _ = watched(store, tick)
    await store.add_client(client())
    store.fail = OSError("database down")
    waiting = [asyncio.create_task(clients.get_client("c1")) for _ in range(5)]
    await asyncio.sleep(0.01)
    store.release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes) and store.client_reads == 1
    store.fail = None
    assert await clients.get_client("c1") is not None and store.client_reads == 2


async def test_an_aged_api_list_is_read_again_while_requests_keep_it() -> None:
    store, tick = GatedReads(), Ticker()
    _, apis = watched(store, tick)  # ttl 60
    await store.add_api(Api("https://a.test", ("a",), NOW))
    store.release.set()
    first = await apis.api_snapshot()
    store.release.clear()
    tick.now += 61  # aged, and the counter has not moved
    answers = [await asyncio.wait_for(apis.api_snapshot(), 1) for _ in range(20)]
    assert all(answer is first for answer in answers)  # nobody waited for the read
    assert store.api_reads == 2  # one read renews it
    store.release.set()
    await asyncio.sleep(0.01)
    renewed = await apis.api_snapshot()
    assert renewed == first and store.api_reads == 2
    tick.now += 59
    assert await apis.api_snapshot() is renewed and store.api_reads == 2


async def test_an_api_list_twice_the_ttl_old_is_read_before_the_answer() -> None:
    store, tick = GatedReads(), Ticker()
    _, apis = watched(store, tick)
    store.release.set()
    assert await apis.api_snapshot() == ()
    tick.now += 121
    store.release.clear()
    waiting = asyncio.create_task(apis.api_snapshot())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    store.release.set()
    assert await waiting == () and store.api_reads == 2


async def test_a_change_elsewhere_is_not_answered_from_the_aged_list() -> None:
    store, tick = GatedReads(), Ticker()
    _, apis = watched(store, tick)
    store.release.set()
    assert await apis.api_snapshot() == ()
    await store.add_api(Api("https://a.test", ("a",), NOW))  # elsewhere: the counter moves
    tick.now += 61
    assert [api.identifier for api in await apis.api_snapshot()] == ["https://a.test"]
