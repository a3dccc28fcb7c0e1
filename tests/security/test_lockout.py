"""Failure counts with progressive locks: in process, and shared through Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest

from tollhouse.security.lockout import (
    Backoff,
    Count,
    Locked,
    MemoryFailureCounts,
    RedisFailureCounts,
)

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKOFF = Backoff(threshold=3, first=10, longest=40)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delay_doubles_past_the_threshold_up_to_the_longest() -> None:
    assert [BACKOFF.delay(n) for n in range(8)] == [0, 0, 0, 10, 20, 40, 40, 40]
    assert Backoff(1, 1, 900).delay(10_000) == 900  # no overflow however many failures
    assert BACKOFF.kept(3) == 50


async def test_a_count_locks_at_its_threshold_and_nothing_is_counted_while_locked() -> None:
    clock = FakeTime()
    counts = MemoryFailureCounts(now=clock)
    one = [Count("k", BACKOFF)]
    assert [await counts.attempt(one) for _ in range(3)] == [None] * 3
    assert await counts.attempt(one) == Locked(0, 10)
    clock.now += 9.5
    assert await counts.attempt(one) == Locked(0, 1)
    clock.now += 0.5
    assert await counts.attempt(one) is None
    assert await counts.attempt(one) == Locked(0, 20)


async def test_several_counts_are_checked_and_counted_together() -> None:
    counts = MemoryFailureCounts(now=FakeTime())
    strict = Count("address", Backoff(2, 5, 5))
    lenient = Count("account", Backoff(10, 60, 60))
    assert await counts.attempt([strict, lenient]) is None
    assert await counts.attempt([strict, lenient]) is None
    assert await counts.attempt([strict, lenient]) == Locked(0, 5)
    # Refused: the lenient count was not charged for it.
    other = Count("address-2", Backoff(2, 5, 5))
    assert [await counts.attempt([other, lenient]) for _ in range(2)] == [None, None]
    four_so_far = [
        await counts.attempt([Count(f"a{n}", strict.backoff), lenient]) for n in range(6)
    ]
    assert four_so_far == [None] * 6
    assert await counts.attempt([Count("fresh", strict.backoff), lenient]) == Locked(1, 60)


async def test_give_back_and_forget() -> None:
    counts = MemoryFailureCounts(now=FakeTime())
    one = [Count("k", BACKOFF)]
    for _ in range(3):
        await counts.attempt(one)
    await counts.give_back("k")
    assert await counts.attempt(one) is None  # back to two, now three
    await counts.forget("k")
    assert [await counts.attempt(one) for _ in range(3)] == [None] * 3
    await counts.give_back("never-seen")  # no error, nothing stored
    assert len(counts) == 1


async def test_counts_are_forgotten_after_their_lock_and_the_longest_delay() -> None:
    clock = FakeTime()
    counts = MemoryFailureCounts(now=clock)
    one = [Count("k", BACKOFF)]
    for _ in range(3):
        await counts.attempt(one)
    clock.now += BACKOFF.kept(3)
    assert [await counts.attempt(one) for _ in range(3)] == [None] * 3


async def test_memory_stays_bounded() -> None:
    counts = MemoryFailureCounts(now=FakeTime(), max_keys=100)
    for n in range(1000):
        await counts.attempt([Count(f"k{n}", BACKOFF)])
    assert len(counts) <= 100


# Redis -------------------------------------------------------------------------------


@pytest.fixture
async def shared() -> AsyncIterator[tuple[RedisFailureCounts, RedisFailureCounts]]:
    import redis.asyncio as aioredis
    import redis.exceptions

    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI but {REDIS_URL} is unreachable: {exc!r}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"tollhouse-test:lockout:{secrets.token_hex(4)}:"
    first = RedisFailureCounts(REDIS_URL, prefix=prefix)
    second = RedisFailureCounts(REDIS_URL, prefix=prefix)
    try:
        yield first, second
    finally:
        keys = [key async for key in probe.scan_iter(match=prefix + "*")]
        if keys:
            await probe.delete(*keys)
        await first.close()
        await second.close()
        await probe.aclose()


async def test_redis_counts_are_shared_between_instances(
    shared: tuple[RedisFailureCounts, RedisFailureCounts],
) -> None:
    first, second = shared
    one = [Count("k", BACKOFF)]
    assert await first.attempt(one) is None
    assert await second.attempt(one) is None
    assert await first.attempt(one) is None
    locked = await second.attempt(one)
    assert locked is not None and locked.index == 0 and 9 <= locked.retry_after <= 10
    await first.forget("k")
    assert await second.attempt(one) is None


async def test_redis_attempt_is_atomic_under_concurrency(
    shared: tuple[RedisFailureCounts, RedisFailureCounts],
) -> None:
    first, second = shared
    both = [Count("address", BACKOFF), Count("account", Backoff(100, 10, 10))]
    results = await asyncio.gather(*(c.attempt(both) for c in (first, second) * 10))
    assert sum(r is None for r in results) == 3
    assert all(r == Locked(0, r.retry_after) for r in results if r is not None)


async def test_redis_give_back_and_expiry(
    shared: tuple[RedisFailureCounts, RedisFailureCounts],
) -> None:
    first, _ = shared
    one = [Count("k", BACKOFF)]
    for _ in range(3):
        await first.attempt(one)
    await first.give_back("k")
    assert await first.attempt(one) is None
    ttl_ms = await first._redis.pttl(first.key("k"))
    assert (BACKOFF.kept(3) - 1) * 1000 <= ttl_ms <= BACKOFF.kept(3) * 1000
    await first.give_back("gone")
    assert await first._redis.exists(first.key("gone")) == 0


async def test_unreachable_redis_falls_back_to_in_process_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counts = RedisFailureCounts("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        one = [Count("k", BACKOFF)]
        assert [await counts.attempt(one) for _ in range(3)] == [None] * 3
        assert await counts.attempt(one) == Locked(0, 10)
    finally:
        await counts.close()
    assert "lockout_redis_unreachable" in caplog.text or any(
        getattr(r, "event", None) == "lockout_redis_unreachable" for r in caplog.records
    )
