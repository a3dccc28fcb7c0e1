"""The storage contract of single-use records: client assertion ``jti``s (RFC 7523 §3)
and pushed authorization requests (RFC 9126), on every backend."""

from __future__ import annotations

import dataclasses

from tests.storage import records as make
from tests.storage.records import NOW
from tollhouse.models import PushedRequest
from tollhouse.storage.ports import Storage


async def test_a_value_is_used_once_until_it_expires(storage: Storage) -> None:
    assert await storage.use_once("jti:a", NOW + 60, NOW)
    assert not await storage.use_once("jti:a", NOW + 60, NOW + 1)
    assert await storage.use_once("jti:b", NOW + 60, NOW)


async def test_a_pushed_request_is_taken_once(storage: Storage) -> None:
    pushed = PushedRequest("h1", "c1", {"scope": "openid", "state": "s"}, NOW + 60)
    await storage.add_pushed_request(pushed)
    assert await storage.take_pushed_request("h1", NOW) == pushed
    assert await storage.take_pushed_request("h1", NOW) is None


async def test_an_expired_pushed_request_is_not_given(storage: Storage) -> None:
    await storage.add_pushed_request(PushedRequest("h2", "c1", {}, NOW + 60))
    assert await storage.take_pushed_request("h2", NOW + 60) is None


async def test_purging_forgets_expired_single_use_records(storage: Storage) -> None:
    await storage.use_once("jti:old", NOW + 10, NOW)
    await storage.add_pushed_request(PushedRequest("h3", "c1", {}, NOW + 10))
    await storage.purge_expired(NOW + 100)
    assert await storage.use_once("jti:old", NOW + 200, NOW + 100)


async def test_client_keys_round_trip(storage: Storage) -> None:
    client = dataclasses.replace(
        make.client("k1"),
        token_endpoint_auth_method="private_key_jwt",
        secret_hash=None,
        jwks='{"keys":[]}',
        jwks_uri=None,
        require_pushed_authorization_requests=True,
        require_signed_request_object=True,
    )
    await storage.add_client(client)
    assert await storage.get_client("k1") == client
