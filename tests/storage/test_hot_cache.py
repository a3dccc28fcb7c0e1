"""The short-lived client/API caches: bounded, expiring, dropped on local writes."""

from __future__ import annotations

import dataclasses

from tollhouse.models import Api, Client
from tollhouse.storage.hot_cache import CachedApis, CachedClients
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
