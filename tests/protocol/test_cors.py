"""protocol/cors.py: origins as browsers send them, and who may read which answer."""

from __future__ import annotations

import pytest

from tests.storage import records as make
from tollhouse.protocol.cors import (
    ENDPOINTS,
    CorsPolicy,
    OriginIndex,
    client_origins,
    is_origin,
    origin_of,
)
from tollhouse.storage.memory import MemoryStorage


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://App.Example/cb", "https://app.example"),
        ("https://app.example:443/cb", "https://app.example"),
        ("http://127.0.0.1:9002/callback?x=1", "http://127.0.0.1:9002"),
        ("http://[::1]:8000/cb", "http://[::1]:8000"),
        ("com.example.app:/cb", None),
        ("https://user:pw@app.example/cb", None),
        ("https://app.example:99999/", None),
    ],
)
def test_origin_of_a_uri_is_what_a_browser_sends(uri: str, origin: str | None) -> None:
    assert origin_of(uri) == origin


def test_an_allowed_origin_is_an_origin_only() -> None:
    assert is_origin("https://spa.example") and is_origin("http://127.0.0.1:9002")
    for value in ("https://spa.example/", "https://SPA.example", "*", "null", "spa.example"):
        assert not is_origin(value)


def test_client_origins_come_from_redirect_uris_and_allowed_cors_origins() -> None:
    client = make.client(
        redirect_uris=("https://app.example/cb", "com.example.app:/cb"),
        allowed_cors_origins=("https://spa.example",),
    )
    assert client_origins(client) == {"https://app.example", "https://spa.example"}


async def test_a_preflight_needs_a_registered_origin_a_response_the_clients_own() -> None:
    storage = MemoryStorage()
    await storage.add_client(make.client("a", redirect_uris=("https://a.example/cb",)))
    await storage.add_client(make.client("b", redirect_uris=("https://b.example/cb",)))
    policy = CorsPolicy(OriginIndex(storage, ttl=0))
    await policy.refresh()
    token = ENDPOINTS["/token"]
    assert policy.preflight_allowed(token, "https://b.example", "POST")
    assert not policy.preflight_allowed(token, "https://b.example", "DELETE")
    assert not policy.preflight_allowed(token, "https://evil.example", "POST")
    assert policy.response_allowed(token, "https://a.example", "a")
    assert not policy.response_allowed(token, "https://b.example", "a")
    assert not policy.response_allowed(token, "https://a.example", None)
    jwks = ENDPOINTS["/jwks.json"]
    assert policy.response_allowed(jwks, "https://evil.example", None)


async def test_a_new_clients_origin_is_seen_once_the_index_is_rebuilt() -> None:
    storage = MemoryStorage()
    now = [0.0]
    index = OriginIndex(storage, ttl=1.0, monotonic=lambda: now[0])
    await index.refresh()
    await storage.add_client(make.client("c", redirect_uris=("https://c.example/cb",)))
    await index.refresh()
    assert not index.registered("https://c.example")  # within the second: the old index
    now[0] = 1.0
    await index.refresh()
    assert index.belongs_to("https://c.example", "c")
