"""Scope resolution against many APIs reads one index per registry load, not one per
request, and answers as it does against the plain list (RFC 6749 §3.3, RFC 8707 §2)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import pytest

from tests.protocol.conftest import CALLBACK, World
from tests.protocol.tokens_helpers import basic, token
from tollhouse.errors import InvalidScope, InvalidTarget, OAuthError
from tollhouse.models import Api, AuthMethod, Client, InitialAccessToken, Interaction
from tollhouse.protocol import scopes
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.interactions import PendingState
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import JsonResult
from tollhouse.randomness import fingerprint
from tollhouse.storage.hot_cache import CHECK_INTERVAL, CachedApis, RegistryWatch
from tollhouse.storage.memory import MemoryStorage
from tollhouse.web.routes import discovery_result

ISSUER = "https://idp.test"
N_APIS = 10_000
PROVIDER_APIS = 1_000


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


class CountingLists:
    """Counts the reads of every API from the store."""

    def __init__(self, store: MemoryStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        read = store.list_apis

        async def counted() -> list[Api]:
            self.count += 1
            return await read()

        monkeypatch.setattr(store, "list_apis", counted)


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


async def describe_consent(world: World, scopes_: tuple[str, ...], audience: str) -> JsonResult:
    """The interaction API's view of a consent pending for ``scopes_`` at ``audience``."""
    request = AuthorizationRequest(
        client_id="web",
        redirect_uri=CALLBACK,
        redirect_uri_sent=True,
        scopes=scopes_,
        audience=audience,
        state="st",
        nonce="n",
        code_challenge=None,
        code_challenge_method=None,
    )
    now = world.clock.now()
    interaction = "ix-" + secrets.token_hex(8)
    state = PendingState(request, stage="consent", user_id="alice-id")
    await world.storage.add_interaction(
        Interaction(
            fingerprint(interaction), fingerprint("csrf"), "web", state.to_dict(), now, now + 600
        )
    )
    return await world.provider.interactions.describe(interaction)


async def readers(world: World, n: int) -> dict[str, object]:
    """What the endpoints that only read the registry answer about API ``n``."""
    issued = await token(world, basic("m2m"), grant_type="client_credentials", scope=f"read{n}")
    described = await describe_consent(world, (f"read{n}",), f"https://api{n}.test")
    discovered = await discovery_result(world.provider)
    return {
        "token": issued.body.get("error") or issued.body["scope"],
        "consent": described.body["scopes"] if described.status == 200 else described.status,
        "discovered": f"read{n}" in discovered.body["scopes_supported"],
    }


async def register(world: World, n: int) -> object:
    """A dynamic registration asking for API ``n``'s scope: its scope, or the error."""
    now = world.clock.now()
    secret = "initial-" + secrets.token_hex(20)
    await world.storage.add_initial_access_token(
        InitialAccessToken(fingerprint(secret), now, now + 600, 1)
    )
    body = {"client_name": f"Dyn {secret[-8:]}", "redirect_uris": [CALLBACK], "scope": f"write{n}"}
    registered = await world.provider.registration.register(
        json.dumps(body).encode(), f"Bearer {secret}"
    )
    return registered.body.get("error") or registered.body["scope"]


def known(n: int) -> dict[str, object]:
    return {
        "token": f"read{n}",
        "consent": [{"scope": f"read{n}", "description": f"Read what API {n} holds"}],
        "discovered": True,
    }


def unknown(n: int) -> dict[str, object]:
    return {
        "token": "invalid_scope",
        "consent": [{"scope": f"read{n}", "description": f"Use https://api{n}.test (read{n})"}],
        "discovered": False,
    }


def described_api(i: int) -> Api:
    return Api(
        f"https://api{i}.test",
        (f"read{i}", f"write{i}"),
        0,
        name=f"API {i}",
        descriptions={f"read{i}": f"Read what API {i} holds"},
    )


async def test_the_providers_endpoints_share_one_index_per_registry_load(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client credentials, the consent description, discovery and registration read
    one index of the registry between changes, and each sees a change made by another
    process once the change counter is read again."""
    for i in range(PROVIDER_APIS):
        await world.storage.add_api(described_api(i))
    builds = CountingBuilds(monkeypatch)
    lists = CountingLists(world.storage, monkeypatch)
    for n in (3, 77, PROVIDER_APIS - 1):
        assert await readers(world, n) == known(n)
    assert await readers(world, PROVIDER_APIS) == unknown(PROVIDER_APIS)
    for _ in range(3):
        assert await register(world, PROVIDER_APIS) == "invalid_client_metadata"
    assert builds.count == 1
    # A registration is itself a change of the registry (one counter for clients and
    # APIs): the next reader loads it again.
    assert await register(world, 77) == "write77"
    assert builds.count == 1
    assert await readers(world, 77) == known(77)
    assert builds.count == 2

    await world.storage.add_api(described_api(PROVIDER_APIS))  # another process
    await world.storage.delete_api("https://api3.test")
    deadline = time.monotonic() + 5 * CHECK_INTERVAL
    while builds.count == 2 and time.monotonic() < deadline:
        await asyncio.sleep(CHECK_INTERVAL / 5)
        await world.provider.api_index.get()
    assert builds.count == 3
    assert await readers(world, PROVIDER_APIS) == known(PROVIDER_APIS)
    assert await readers(world, 3) == unknown(3)
    assert await register(world, 3) == "invalid_client_metadata"
    assert await register(world, PROVIDER_APIS) == f"write{PROVIDER_APIS}"
    assert builds.count == 3
    assert lists.count == 3  # the store's list of every API: once per load, no more
