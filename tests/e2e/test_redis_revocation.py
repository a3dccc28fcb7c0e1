"""With --redis, every revocation is also a Redis key that expires with the token,
shared with other instances and resource servers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import jwt
import pytest
import redis.asyncio as aioredis

from tests.e2e.conftest import CALLBACK, Seed, free_port, seed_database, start_server, stop
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def _redis_up() -> bool:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        return True
    except OSError:
        return False
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis.exceptions

    try:
        up = asyncio.run(_redis_up())
    except redis.exceptions.ConnectionError:
        up = False
    if not up:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


async def _ttl(url: str, key: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return int(await client.ttl(key))
    finally:
        await client.aclose()


def test_revocation_is_written_to_redis_with_the_tokens_lifetime(
    tmp_path: Path, redis_url: str
) -> None:
    seed = Seed()
    asyncio.run(seed_database(f"sqlite:///{tmp_path / 'tollhouse.db'}", seed))
    port = free_port()
    process, _ = start_server(tmp_path, port, "--redis", redis_url)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            verifier, challenge = pkce_pair()
            params = code_params(seed, challenge)
            result = browse(http, params, username=seed.username, password=seed.password)
            assert isinstance(result, Callback)
            auth = (seed.confidential_id, seed.confidential_secret)
            tokens = exchange(
                http, result.code, verifier=verifier, redirect_uri=CALLBACK, auth=auth
            ).json()
            assert (
                http.post("/revoke", data={"token": tokens["access_token"]}, auth=auth).status_code
                == 200
            )
        jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
        ttl = asyncio.run(_ttl(redis_url, f"tollhouse:revoked:{jti}"))
        assert 940 <= ttl <= 960  # exp + 60 s for resource servers' leeway
    finally:
        stop(process)
