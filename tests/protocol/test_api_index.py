"""Scope resolution against many APIs reads one index per registry load, not one per
request, and answers as it does against the plain list (RFC 6749 §3.3, RFC 8707 §2)."""

from __future__ import annotations

import pytest

from tollhouse.errors import InvalidScope, InvalidTarget, OAuthError
from tollhouse.models import Api, AuthMethod, Client
from tollhouse.protocol import scopes
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.storage.hot_cache import CachedApis, RegistryWatch
from tollhouse.storage.memory import MemoryStorage

ISSUER = "https://idp.test"
N_APIS = 10_000


def api(i: int) -> Api:
    return Api(f"https://api{i}.test", (f"read{i}", f"write{i}"), 0)


CLIENT = Client("c", "C", (), ("client_credentials",), AuthMethod.CLIENT_SECRET_BASIC, 0, "h", None)


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingBuilds:
    """Counts the indexes built, by wrapping ``ApiIndex.of``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        build = scopes.ApiIndex.of

        def counted(apis: object) -> scopes.ApiIndex:
            self.count += 1
            return build(apis)  # type: ignore[arg-type]

        monkeypatch.setattr(scopes.ApiIndex, "of", counted)


async def seeded(tick: Ticker) -> tuple[MemoryStorage, CachedApis]:
    store = MemoryStorage()
    for i in range(N_APIS):
        await store.add_api(api(i))
    watch = RegistryWatch(store, interval=0.5, monotonic=tick)
    return store, CachedApis(store, watch=watch, ttl=60, monotonic=tick)


# (requested scopes, resource) → the audience granted, or the error raised.
CASES: list[tuple[tuple[str, ...], str | None, str | type[OAuthError]]] = [
    (("read7",), None, "https://api7.test"),  # the API owning the scope
    (("read7", "write7"), None, "https://api7.test"),
    (("read7", "openid"), None, "https://api7.test"),
    (("read7", "read9999"), None, InvalidTarget),  # two APIs, one token
    (("nosuch",), None, InvalidScope),
    (("read7",), "https://api7.test", "https://api7.test"),  # resource indicator
    ((), "https://api9999.test", "https://api9999.test"),
    (("read7",), "https://api8.test", InvalidScope),  # scope of another API
    (("read7",), "https://unknown.test", InvalidTarget),
    ((), "https://api7.test#frag", InvalidTarget),
    ((), None, ISSUER),  # default audience: the issuer itself
    (("openid", "profile"), None, ISSUER),
]


def outcome(
    requested: tuple[str, ...], resource: str | None, apis: scopes.ApiIndex | list[Api]
) -> str | type[OAuthError]:
    try:
        grant = scopes.resolve(requested, resource, apis, client=CLIENT, issuer=ISSUER)
    except OAuthError as error:
        return type(error)
    assert grant.scopes == requested
    return grant.audience


async def test_many_apis_resolve_against_one_index_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Ticker()
    store, cached = await seeded(tick)
    listed = await store.list_apis()
    builds = CountingBuilds(monkeypatch)
    cache = ApiIndexCache(cached)
    first = await cache.get()
    for requested, resource, expected in CASES * 10:
        index = await cache.get()
        assert index is first
        assert outcome(requested, resource, index) == expected
        assert outcome(requested, resource, listed) == expected  # the plain list agrees
    assert builds.count == 1 + len(CASES) * 10  # one for the cache, one per plain list


async def test_the_index_is_rebuilt_when_the_registry_changes_anywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Ticker()
    store, cached = await seeded(tick)
    cache = ApiIndexCache(cached)
    before = await cache.get()
    builds = CountingBuilds(monkeypatch)

    await store.add_api(Api("https://new.test", ("fresh",), 0))  # another process
    assert outcome(("fresh",), None, await cache.get()) is InvalidScope
    tick.now += 0.5  # the change counter is read again
    after = await cache.get()
    assert after is not before and builds.count == 1
    assert outcome(("fresh",), None, after) == "https://new.test"

    await cached.delete_api("https://api7.test")  # through this process: at once
    assert outcome(("read7",), None, await cache.get()) is InvalidScope
    assert outcome((), "https://api7.test", await cache.get()) is InvalidTarget
    assert builds.count == 2


async def test_a_store_without_snapshots_is_indexed_on_each_call() -> None:
    store = MemoryStorage()
    cache = ApiIndexCache(store)
    assert outcome(("a",), None, await cache.get()) is InvalidScope
    await store.add_api(Api("https://a.test", ("a",), 0))
    assert outcome(("a",), None, await cache.get()) == "https://a.test"
