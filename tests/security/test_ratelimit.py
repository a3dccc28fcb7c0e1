"""Token buckets: rate syntax, the in-process limiter, and the Redis-shared one."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest

from tollhouse.config import load_settings
from tollhouse.config_limits import RATE_LIMITS
from tollhouse.errors import ConfigError
from tollhouse.provider.operations import login_guard, rate_limits
from tollhouse.security.ratelimit import (
    MemoryRateLimiter,
    Rate,
    RateLimits,
    RedisRateLimiter,
    parse_rate,
)

REDIS_URL = os.environ.get("TOLLHOUSE_TEST_REDIS", "redis://127.0.0.1:6379/0")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/s", Rate(10, 1, 10)),
        ("100/min", Rate(100, 60, 100)),
        ("10/15min", Rate(10, 900, 10)),
        ("5/h,burst=10", Rate(5, 3600, 10)),
        ("10/s, burst=20", Rate(10, 1, 20)),
        ("1000/day", Rate(1000, 86400, 1000)),
        (" 3/2second ", Rate(3, 2, 3)),
    ],
)
def test_rate_syntax(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


def test_off_disables_a_limit() -> None:
    assert parse_rate("off") is None
    assert parse_rate("OFF") is None


@pytest.mark.parametrize(
    "text", ["", "10", "10/fortnight", "0/s", "-1/s", "10/s,burst=0", "ten/s", "10/s burst 20"]
)
def test_malformed_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_default_token_limit_is_10_per_second_with_a_burst_of_20() -> None:
    settings = load_settings()
    assert parse_rate(settings.rate_limit_token) == Rate(10, 1, 20)
    assert parse_rate(settings.rate_limit_login_ip) == Rate(30, 900, 30)


def test_configuration_refuses_a_malformed_rate_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="TOLLHOUSE_RATE_LIMIT_LOGIN_IP"):
        load_settings(rate_limit_login_ip="30 per minute")


@pytest.mark.parametrize("name", RATE_LIMITS)
async def test_every_limit_is_turned_off_by_off(name: str) -> None:
    settings = load_settings(**{name: "OFF"}, max_pending_interactions="off")
    limits = rate_limits(settings, MemoryRateLimiter())
    limit = name.removeprefix("rate_limit_")
    assert limits.rates[limit] is None
    assert limits.rates["interactions"] is None
    assert all([(await limits.take(limit, "127.0.0.1")).allowed for _ in range(100)])


async def test_off_turns_the_sign_in_limits_off() -> None:
    settings = load_settings(rate_limit_login="off", rate_limit_login_ip="Off")
    guard = login_guard(settings, MemoryRateLimiter())
    assert [await guard.attempt("alice", "127.0.0.1") for _ in range(50)] == [None] * 50


def test_pending_interactions_refill_over_the_interaction_lifetime() -> None:
    limits = rate_limits(load_settings(), MemoryRateLimiter())
    assert limits.rates["interactions"] == Rate(300, 600, 300)
    settings = load_settings(max_pending_interactions="5", interaction_ttl=120)
    assert rate_limits(settings, MemoryRateLimiter()).rates["interactions"] == Rate(5, 120, 5)


@pytest.mark.parametrize("text", ["0", "-1", "five", "1e3", "5/min", "", "99999999"])
def test_a_malformed_pending_interaction_bound_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="TOLLHOUSE_MAX_PENDING_INTERACTIONS"):
        load_settings(max_pending_interactions=text)


async def test_bucket_allows_the_burst_then_refuses_with_retry_after() -> None:
    clock = FakeTime()
    limiter = MemoryRateLimiter(now=clock)
    rate = Rate(10, 1, 20)
    allowed = [(await limiter.take("ip", rate)).allowed for _ in range(25)]
    assert allowed == [True] * 20 + [False] * 5
    refused = await limiter.take("ip", rate)
    assert refused.retry_after == 1
    clock.now += 0.5  # refills 5 tokens
    assert [(await limiter.take("ip", rate)).allowed for _ in range(6)] == [True] * 5 + [False]


async def test_retry_after_is_the_time_until_the_next_token() -> None:
    clock = FakeTime()
    limiter = MemoryRateLimiter(now=clock)
    rate = Rate(10, 900, 10)
    for _ in range(10):
        assert (await limiter.take("acct", rate)).allowed
    assert (await limiter.take("acct", rate)).retry_after == 90
    clock.now += 89
    assert (await limiter.take("acct", rate)).retry_after == 1
    clock.now += 1
    assert (await limiter.take("acct", rate)).allowed


async def test_buckets_are_per_key() -> None:
    limiter = MemoryRateLimiter(now=FakeTime())
    rate = Rate(1, 60, 1)
    assert (await limiter.take("a", rate)).allowed
    assert not (await limiter.take("a", rate)).allowed
    assert (await limiter.take("b", rate)).allowed


async def test_refund_and_reset_refill_a_bucket() -> None:
    limiter = MemoryRateLimiter(now=FakeTime())
    rate = Rate(2, 60, 2)
    await limiter.take("k", rate)
    await limiter.take("k", rate)
    assert not (await limiter.take("k", rate)).allowed
    await limiter.take("k", rate, cost=-1)
    assert (await limiter.take("k", rate)).allowed
    await limiter.reset("k")
    assert (await limiter.take("k", rate)).allowed and (await limiter.take("k", rate)).allowed


async def test_full_buckets_are_forgotten_and_memory_stays_bounded() -> None:
    clock = FakeTime()
    limiter = MemoryRateLimiter(now=clock, max_keys=100)
    rate = Rate(1, 1, 1)
    for i in range(100):
        await limiter.take(f"ip-{i}", rate)
    assert len(limiter) == 100
    clock.now += 2  # all refilled
    await limiter.take("new", rate)
    assert len(limiter) == 1
    for i in range(250):
        await limiter.take(f"burst-{i}", rate)
    assert len(limiter) <= 100


async def test_endpoint_limits_are_per_endpoint_and_off_means_unlimited() -> None:
    limits = RateLimits(MemoryRateLimiter(now=FakeTime()), {"token": "2/min", "introspect": "off"})
    assert [(await limits.take("token", "10.0.0.1")).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert (await limits.take("token", "10.0.0.2")).allowed
    assert all([(await limits.take("introspect", "10.0.0.1")).allowed for _ in range(50)])
    assert (await limits.take("unknown", "10.0.0.1")).allowed


# Redis -------------------------------------------------------------------------------


@pytest.fixture
async def redis_limiters() -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter]]:
    """Two limiters on two connections, as two instances would have."""
    import redis.asyncio as aioredis
    import redis.exceptions

    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI but {REDIS_URL} is unreachable: {exc!r}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    finally:
        await probe.aclose()
    prefix = f"tollhouse-test:{secrets.token_hex(6)}:"
    first = RedisRateLimiter(REDIS_URL, prefix=prefix)
    second = RedisRateLimiter(REDIS_URL, prefix=prefix)
    try:
        yield first, second
    finally:
        keys = [key async for key in first._redis.scan_iter(match=prefix + "*")]
        if keys:
            await first._redis.delete(*keys)
        await first.close()
        await second.close()


async def test_redis_buckets_are_shared_between_instances(
    redis_limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = redis_limiters
    rate = Rate(5, 60, 5)
    results = []
    for i in range(8):
        limiter = first if i % 2 == 0 else second
        results.append((await limiter.take("token:127.0.0.1", rate)).allowed)
    assert results == [True] * 5 + [False] * 3
    refused = await second.take("token:127.0.0.1", rate)
    assert 1 <= refused.retry_after <= 12


async def test_redis_take_is_atomic_under_concurrency(
    redis_limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = redis_limiters
    rate = Rate(20, 3600, 20)
    outcomes = await asyncio.gather(
        *((first if i % 2 else second).take("burst", rate) for i in range(60))
    )
    assert sum(decision.allowed for decision in outcomes) == 20


async def test_redis_refund_and_reset(
    redis_limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = redis_limiters
    rate = Rate(1, 3600, 1)
    assert (await first.take("k", rate)).allowed
    assert not (await second.take("k", rate)).allowed
    await second.take("k", rate, cost=-1)
    assert (await first.take("k", rate)).allowed
    await first.reset("k")
    assert (await second.take("k", rate)).allowed


async def test_redis_keys_expire_once_the_bucket_is_full_again(
    redis_limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, _ = redis_limiters
    await first.take("ttl", Rate(10, 1, 10))
    ttl_ms = await first._redis.pttl(first.key("ttl"))
    assert 0 < ttl_ms <= 1100


async def test_unreachable_redis_falls_back_to_in_process_buckets() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        rate = Rate(2, 60, 2)
        outcomes = [(await limiter.take("ip", rate)).allowed for _ in range(3)]
        assert outcomes == [True, True, False]
    finally:
        await limiter.close()


async def test_a_cost_of_zero_looks_without_spending() -> None:
    limiter = MemoryRateLimiter(now=FakeTime())
    rate = Rate(1, 3600, 2)
    assert [(await limiter.take("k", rate, cost=0)).allowed for _ in range(5)] == [True] * 5
    assert (await limiter.take("k", rate)).allowed and (await limiter.take("k", rate)).allowed
    assert not (await limiter.take("k", rate, cost=0)).allowed


async def test_redis_cost_of_zero_looks_without_spending(
    redis_limiters: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = redis_limiters
    rate = Rate(1, 3600, 1)
    assert [(await first.take("k", rate, cost=0)).allowed for _ in range(3)] == [True] * 3
    assert (await second.take("k", rate)).allowed
    refused = await first.take("k", rate, cost=0)
    assert not refused.allowed and refused.retry_after > 0
