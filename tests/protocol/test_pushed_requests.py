"""RFC 9126 request_uri lifetime and binding, on a frozen clock."""

from __future__ import annotations

import pytest

from tollhouse.clock import FrozenClock
from tollhouse.errors import InvalidRequestUri
from tollhouse.protocol.pushed_requests import PAR_TTL, REQUEST_URI_PREFIX, PushedRequests
from tollhouse.storage.memory import MemoryStorage


async def test_a_request_uri_expires_after_its_lifetime() -> None:
    clock = FrozenClock(1_000_000)
    pushed = PushedRequests(MemoryStorage(), clock)
    request_uri = await pushed.push("c1", {"state": "s"})
    assert request_uri.startswith(REQUEST_URI_PREFIX)
    clock.advance(PAR_TTL)
    with pytest.raises(InvalidRequestUri, match="expired"):
        await pushed.take(request_uri, "c1")


async def test_a_request_uri_is_taken_once_by_its_client() -> None:
    pushed = PushedRequests(MemoryStorage(), FrozenClock(1_000_000))
    request_uri = await pushed.push("c1", {"state": "s"})
    assert await pushed.take(request_uri, "c1") == {"state": "s"}
    with pytest.raises(InvalidRequestUri, match="used"):
        await pushed.take(request_uri, "c1")
    other = await pushed.push("c1", {})
    with pytest.raises(InvalidRequestUri, match="another client"):
        await pushed.take(other, "c2")


async def test_only_pushed_request_uris_are_read() -> None:
    pushed = PushedRequests(MemoryStorage(), FrozenClock(1_000_000))
    with pytest.raises(InvalidRequestUri, match="/par"):
        await pushed.take("https://attacker.example/request.jwt", "c1")
