"""The Redis revocation list, against a real Redis.

Resource servers read ``tollhouse:revoked:<jti>`` directly, so the key format is part
of the contract. Each test writes under its own prefix and deletes what it wrote. If
Redis cannot be reached the tests are skipped, unless ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.storage import records as make
from tollhouse.errors import TemporarilyUnavailable
from tollhouse.storage.ports import RevocationList
from tollhouse.storage.redis import RedisRevocationList

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379")


def _adapter_satisfies_the_port(redis: RedisRevocationList) -> RevocationList:
    """Checked by mypy: the adapter implements the ``RevocationList`` port."""
    return redis


@pytest.fixture
async def raw() -> AsyncIterator[Redis]:
    """A plain client, to look at what the adapter wrote."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        reason = f"Redis unreachable at {REDIS_URL}: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"tollhouse-test-{secrets.token_hex(6)}:"


@pytest.fixture
async def revocations(raw: Redis, prefix: str) -> AsyncIterator[RedisRevocationList]:
    redis = RedisRevocationList(REDIS_URL, prefix=prefix)
    try:
        yield redis
    finally:
        await redis.close()
        leftovers = [key async for key in raw.scan_iter(match=f"{prefix}*")]
        if leftovers:
            await raw.delete(*leftovers)


def now() -> int:
    return int(time.time())


async def test_revoked_token_is_a_key_holding_the_reason(
    revocations: RedisRevocationList, raw: Redis, prefix: str
) -> None:
    t = now()
    await revocations.revoke(make.revocation("jti-1", revoked_at=t, expires_at=t + 900))
    assert await revocations.is_revoked("jti-1", t) is True
    assert await raw.get(f"{prefix}revoked:jti-1") == b"revoked"
    assert 890 <= await raw.ttl(f"{prefix}revoked:jti-1") <= 900


async def test_default_key_is_the_one_resource_servers_read(raw: Redis) -> None:
    jti = f"test-{secrets.token_hex(8)}"
    redis = RedisRevocationList(REDIS_URL)
    try:
        t = now()
        await redis.revoke(make.revocation(jti, revoked_at=t, expires_at=t + 60))
        assert redis.key(jti) == f"tollhouse:revoked:{jti}"
        assert await raw.exists(f"tollhouse:revoked:{jti}") == 1
    finally:
        await redis.close()
        await raw.delete(f"tollhouse:revoked:{jti}")


async def test_unknown_token_is_not_revoked(revocations: RedisRevocationList) -> None:
    t = now()
    await revocations.revoke(make.revocation("jti-1", revoked_at=t, expires_at=t + 60))
    assert await revocations.is_revoked("jti-2", t) is False


async def test_revocation_expires_with_the_token(revocations: RedisRevocationList) -> None:
    t = now()
    await revocations.revoke(make.revocation("jti-1", revoked_at=t, expires_at=t + 1))
    assert await revocations.is_revoked("jti-1", t) is True
    await asyncio.sleep(1.2)
    assert await revocations.is_revoked("jti-1", t + 2) is False


async def test_revoking_twice_is_idempotent_and_keeps_the_first_reason(
    revocations: RedisRevocationList, raw: Redis, prefix: str
) -> None:
    t = now()
    await revocations.revoke(
        make.revocation("jti-1", revoked_at=t, expires_at=t + 600, reason="logout")
    )
    await revocations.revoke(
        make.revocation("jti-1", revoked_at=t, expires_at=t + 900, reason="reuse")
    )
    assert await revocations.is_revoked("jti-1", t) is True
    assert await raw.get(f"{prefix}revoked:jti-1") == b"logout"
    assert await raw.ttl(f"{prefix}revoked:jti-1") <= 600


async def test_already_expired_token_is_not_written(
    revocations: RedisRevocationList, raw: Redis, prefix: str
) -> None:
    t = now()
    await revocations.revoke(make.revocation("jti-1", revoked_at=t, expires_at=t))
    await revocations.revoke(make.revocation("jti-2", revoked_at=t, expires_at=t - 60))
    assert await revocations.is_revoked("jti-1", t) is False
    assert [key async for key in raw.scan_iter(match=f"{prefix}*")] == []


async def test_ping_succeeds_on_a_live_server(revocations: RedisRevocationList) -> None:
    await revocations.ping()


async def test_ping_fails_when_redis_is_unreachable() -> None:
    redis = RedisRevocationList("redis://127.0.0.1:1")
    try:
        with pytest.raises(RedisConnectionError):
            await redis.ping()
    finally:
        await redis.close()


async def test_dpop_replay_cache_accepts_a_proof_once_and_forgets_it(
    revocations: RedisRevocationList, raw: Redis, prefix: str
) -> None:
    cache = revocations.replay_cache()
    assert await cache.first_use("proof-1", 60)
    assert not await cache.first_use("proof-1", 60)
    assert await cache.first_use("proof-2", 60)
    assert 0 < await raw.ttl(f"{prefix}dpop:proof-1") <= 60


async def test_dpop_replay_cache_fails_closed_without_redis() -> None:
    """No instance could tell a replay: 503 (TemporarilyUnavailable), never accepted."""
    down = RedisRevocationList("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(TemporarilyUnavailable):
            await down.replay_cache().first_use("proof", 60)
    finally:
        await down.close()
