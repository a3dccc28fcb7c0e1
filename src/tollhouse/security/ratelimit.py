"""Rate limits: token buckets kept in process memory or shared through Redis.

RFC 6749 §10.10: "The authorization server MUST prevent attackers from guessing access
tokens, authorization codes, refresh tokens, resource owner passwords, and client
credentials." Answers to a refused request are HTTP 429 with ``Retry-After``
(RFC 6585 §4); the web layer renders them in each endpoint's own format.

A :class:`Rate` is written ``N/PERIOD[,burst=B]``: ``10/s``, ``100/min``,
``10/15min``, ``5/h,burst=10`` — or ``off``. A bucket holds ``burst`` tokens (default
``N``) and refills at ``N`` per ``PERIOD``; each request takes one token. Periods: ``s``,
``sec``, ``second(s)``, ``m``, ``min``, ``minute(s)``, ``h``, ``hour(s)``, ``d``,
``day(s)``, optionally preceded by a multiplier (``15min``).

Without Redis each process keeps its own buckets (``--workers N`` gives each worker
its own). With ``--redis`` the buckets live in Redis under
``tollhouse:ratelimit:<name>:<subject>``, updated by one Lua script (atomic, timed
by the Redis server's clock), so every instance shares them. If Redis cannot be
reached, the in-process buckets take over until it is back.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from tollhouse.security.shared_redis import SharedRedis

OFF = "off"
DEFAULT_PREFIX = "tollhouse:ratelimit:"
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_RATE = re.compile(r"(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*(?:,\s*burst\s*=\s*(\d+))?")
MAX_COUNT = 1_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``period`` seconds, with bursts of up to ``burst``."""

    count: int
    period: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        return f"{self.count}/{self.period}s,burst={self.burst}"


def parse_rate(text: str) -> Rate | None:
    """Parse ``N/PERIOD[,burst=B]``; ``None`` for ``off``. Raises ``ValueError``."""
    value = text.strip().lower()
    if value == OFF:
        return None
    match = _RATE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{text!r} is not a rate: use N/PERIOD like 10/s, 100/min or 10/15min, "
            "optionally ,burst=B, or off"
        )
    count, multiplier, unit, burst = match.groups()
    if unit not in _UNITS:
        raise ValueError(f"{text!r}: unknown period {unit!r}; use s, min, h or d")
    period = (int(multiplier) if multiplier else 1) * _UNITS[unit]
    rate = Rate(int(count), period, int(burst) if burst else int(count))
    if not (1 <= rate.count <= MAX_COUNT and 1 <= rate.burst <= MAX_COUNT and period >= 1):
        raise ValueError(f"{text!r}: the count and burst must be 1-{MAX_COUNT}")
    return rate


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int
    """Whole seconds until a request would be allowed (at least 1 when refused)."""


ALLOWED = Decision(True, 0)


def _retry_after(missing: float, rate: Rate) -> int:
    return max(1, math.ceil(missing / rate.per_second))


class RateLimiter(Protocol):
    async def take(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        """Take ``cost`` tokens from the bucket ``key`` if it holds them; a negative
        cost gives tokens back (never beyond ``burst``); a cost of 0 only looks: refused
        while the bucket holds less than one token, nothing spent."""

    async def reset(self, key: str) -> None:
        """Refill the bucket ``key`` completely."""

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Token buckets in a dict; each call runs to completion on the event loop, which
    makes it atomic. Full buckets are forgotten, so memory follows the active keys."""

    def __init__(
        self, *, now: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._now = now
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float, Rate]] = {}
        """key → (tokens, updated_at, rate)."""

    async def take(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        now = self._now()
        tokens = self._level(key, rate, now)
        needed = max(cost, 1)
        if cost >= 0 and tokens < needed:
            self._buckets[key] = (tokens, now, rate)
            return Decision(False, _retry_after(needed - tokens, rate))
        tokens = min(float(rate.burst), tokens - cost)
        if tokens >= rate.burst:
            self._buckets.pop(key, None)
        else:
            if len(self._buckets) >= self._max_keys and key not in self._buckets:
                self._sweep(now)
            self._buckets[key] = (tokens, now, rate)
        return ALLOWED

    def _level(self, key: str, rate: Rate, now: float) -> float:
        found = self._buckets.get(key)
        if found is None:
            return float(rate.burst)
        tokens, updated, _ = found
        return min(float(rate.burst), tokens + max(0.0, now - updated) * rate.per_second)

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled; if none has, the oldest half."""
        full = [
            k
            for k, (_, _, rate) in self._buckets.items()
            if self._level(k, rate, now) >= rate.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]

    async def reset(self, key: str) -> None:
        self._buckets.pop(key, None)

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._buckets)


# One bucket per key: a hash {tokens, ts}. Time comes from the Redis server, so every
# instance measures the same clock; the key expires once the bucket would be full.
_TAKE = """
local burst = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * per_second)
end
local needed = math.max(cost, 1)
if cost >= 0 and tokens < needed then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_second * 1000) + 1000)
  return math.ceil((needed - tokens) / per_second * 1000)
end
tokens = math.min(burst, tokens - cost)
if tokens >= burst then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_second * 1000) + 1000)
end
return 0
"""


class RedisRateLimiter:
    """Token buckets shared by every instance through Redis (one Lua script per take).

    When Redis fails, ``fallback`` (in-process buckets) answers and the failure is
    logged at most once a minute: limits keep working per instance, and requests are
    not refused because Redis is down.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        fallback: RateLimiter | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = SharedRedis(
            url,
            prefix=prefix,
            unreachable="rate limits fall back to this process: Redis is unreachable",
            event="ratelimit_redis_unreachable",
            now=now,
        )
        self._redis = self._shared.redis
        self._script = self._redis.register_script(_TAKE)
        self._fallback = fallback or MemoryRateLimiter(now=now)

    def key(self, key: str) -> str:
        return self._shared.key(key)

    async def take(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        from redis.exceptions import RedisError

        try:
            wait_ms = int(
                await self._script(
                    keys=[self.key(key)], args=[rate.burst, repr(rate.per_second), cost]
                )
            )
        except (RedisError, OSError) as exc:
            self._shared.warn(exc)
            return await self._fallback.take(key, rate, cost)
        if wait_ms <= 0:
            return ALLOWED
        return Decision(False, max(1, math.ceil(wait_ms / 1000)))

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        await self._shared.delete(key)

    async def close(self) -> None:
        await self._shared.close()


def open_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis-backed buckets when a Redis URL is configured, else in-process ones."""
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()


class RateLimits:
    """Request limits of the protocol endpoints by name: per client IP, and per client
    on ``/token`` (``token_client``, ``token_client_failures``)."""

    def __init__(self, limiter: RateLimiter, rates: Mapping[str, str]) -> None:
        self.limiter = limiter
        self.rates: dict[str, Rate | None] = {name: parse_rate(v) for name, v in rates.items()}

    async def take(self, endpoint: str, subject: str, cost: int = 1) -> Decision:
        """Take ``cost`` from the bucket of ``subject`` (a client IP, a client_id …) under
        the limit ``endpoint``; a negative cost gives back (``RateLimiter.take``)."""
        rate = self.rates.get(endpoint)
        if rate is None:
            return ALLOWED
        return await self.limiter.take(f"{endpoint}:{subject}", rate, cost)
