"""Failure counts with progressive locks, in process memory or shared through Redis.

OWASP's Authentication Cheat Sheet ("Account Lockout"): rather than a fixed lockout
duration, an exponential one that starts short and doubles with each further failed
attempt. A count under its :class:`Backoff` is free until ``threshold`` failures; from
then on each failure locks the count for ``first`` seconds, doubled per failure past
the threshold, up to ``longest``. While locked, attempts are refused unchecked and not
counted. A count no one has added to for its lock plus ``longest`` seconds is
forgotten (Redis lets the key expire).

:meth:`FailureCounts.attempt` checks and counts several keys at once, atomically (one
Lua script in Redis; one uninterrupted run on the event loop in memory): an attempt is
counted as a failure *before* its password is checked, so parallel guesses cannot slip
past a threshold; the caller gives it back, or forgets the key, once the password was
right (or never checked).

With Redis the counts live under ``tollhouse:lockout:<key>`` (a hash of ``n`` and
``ts``, timed by the Redis server's clock) and every instance shares them. If Redis
cannot be reached, the in-process counts take over until it is back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tollhouse.security.shared_redis import SharedRedis

DEFAULT_PREFIX = "tollhouse:lockout:"
_MAX_DOUBLINGS = 32


@dataclass(frozen=True, slots=True)
class Backoff:
    """Free for ``threshold`` failures, then locked ``first`` seconds, doubling per
    further failure up to ``longest``."""

    threshold: int
    first: int
    longest: int

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.first < 1 or self.longest < self.first:
            raise ValueError("threshold and first must be at least 1, longest at least first")

    def delay(self, failures: int) -> int:
        """Seconds locked after the last of ``failures`` failures."""
        if failures < self.threshold:
            return 0
        doublings = min(failures - self.threshold, _MAX_DOUBLINGS)
        return min(self.longest, self.first << doublings)

    def kept(self, failures: int) -> int:
        """Seconds after the last failure until the count is forgotten."""
        return self.delay(failures) + self.longest


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    backoff: Backoff


@dataclass(frozen=True, slots=True)
class Locked:
    """The attempt was refused: ``counts[index]`` is locked for ``retry_after`` s more."""

    index: int
    retry_after: int


class FailureCounts(Protocol):
    async def attempt(self, counts: Sequence[Count]) -> Locked | None:
        """If any count is locked, the longest lock (nothing counted); else add one
        failure to every count and return None."""

    async def give_back(self, key: str) -> None:
        """Take one failure off ``key`` (an attempt that turned out right or unchecked)."""

    async def forget(self, key: str) -> None:
        """Drop the count ``key`` entirely."""

    async def close(self) -> None: ...


def _wait(failures: int, last: float, backoff: Backoff, now: float) -> float:
    return last + backoff.delay(failures) - now if failures else 0.0


class MemoryFailureCounts:
    """Counts in a dict: each call runs to completion on the event loop, which makes it
    atomic. Forgotten counts are swept when the dict reaches ``max_keys``."""

    def __init__(
        self, *, now: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._now = now
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, float, float]] = {}
        """key → (failures, last failure, forgotten at)."""

    def _current(self, key: str, now: float) -> tuple[int, float]:
        failures, last, until = self._counts.get(key, (0, 0.0, math.inf))
        if now >= until:
            del self._counts[key]
            return 0, 0.0
        return failures, last

    async def attempt(self, counts: Sequence[Count]) -> Locked | None:
        now = self._now()
        current = [self._current(count.key, now) for count in counts]
        waits = [
            _wait(n, last, c.backoff, now) for (n, last), c in zip(current, counts, strict=True)
        ]
        longest = max(waits, default=0.0)
        if longest > 0:
            return Locked(waits.index(longest), max(1, math.ceil(longest)))
        if len(self._counts) + len(counts) > self._max_keys:
            self._sweep(now)
        for (failures, _), count in zip(current, counts, strict=True):
            n = failures + 1
            self._counts[count.key] = (n, now, now + count.backoff.kept(n))
        return None

    def _sweep(self, now: float) -> None:
        """Forget expired counts; if none has expired, the oldest half."""
        for key in [k for k, (_, _, until) in self._counts.items() if now >= until]:
            del self._counts[key]
        if len(self._counts) >= self._max_keys:
            oldest = sorted(self._counts, key=lambda k: self._counts[k][1])
            for key in oldest[: len(oldest) // 2]:
                del self._counts[key]

    async def give_back(self, key: str) -> None:
        found = self._counts.get(key)
        if found is None:
            return
        failures, last, until = found
        if failures <= 1:
            del self._counts[key]
        else:
            self._counts[key] = (failures - 1, last, until)

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._counts)


# KEYS: the counts; ARGV: threshold, first, longest of each in turn. Returns
# {milliseconds locked, 1-based index of the longest lock}, or {0, 0} once counted.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function delay(n, threshold, first, longest)
  if n < threshold then return 0 end
  return math.min(longest, first * 2 ^ math.min(n - threshold, 32))
end
local wait, which = 0, 0
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 3
  local state = redis.call('HMGET', key, 'n', 'ts')
  local n = tonumber(state[1]) or 0
  local ts = tonumber(state[2]) or 0
  if n > 0 then
    local left = ts + delay(n, tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]),
                            tonumber(ARGV[b + 3])) - now
    if left > wait then wait, which = left, i end
  end
end
if wait > 0 then return {math.ceil(wait * 1000), which} end
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 3
  local threshold, first, longest = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]),
                                    tonumber(ARGV[b + 3])
  local n = redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((delay(n, threshold, first, longest) + longest) * 1000))
end
return {0, 0}
"""

_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'n', -1) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisFailureCounts:
    """Counts shared by every instance through Redis (one Lua script per attempt).

    When Redis fails, ``fallback`` (in-process counts) answers and the failure is logged
    at most once a minute: sign-in keeps its protection per instance, and is not refused
    because Redis is down.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        fallback: FailureCounts | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = SharedRedis(
            url,
            prefix=prefix,
            unreachable="sign-in lockouts fall back to this process: Redis is unreachable",
            event="lockout_redis_unreachable",
            now=now,
        )
        self._redis = self._shared.redis
        self._attempt = self._redis.register_script(_ATTEMPT)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._fallback = fallback or MemoryFailureCounts(now=now)

    def key(self, key: str) -> str:
        return self._shared.key(key)

    async def attempt(self, counts: Sequence[Count]) -> Locked | None:
        from redis.exceptions import RedisError

        args: list[int] = []
        for count in counts:
            args += [count.backoff.threshold, count.backoff.first, count.backoff.longest]
        try:
            wait_ms, which = await self._attempt(
                keys=[self.key(count.key) for count in counts], args=args
            )
        except (RedisError, OSError) as exc:
            self._shared.warn(exc)
            return await self._fallback.attempt(counts)
        if int(wait_ms) <= 0:
            return None
        return Locked(int(which) - 1, max(1, math.ceil(int(wait_ms) / 1000)))

    async def give_back(self, key: str) -> None:
        from redis.exceptions import RedisError

        await self._fallback.give_back(key)
        try:
            await self._give_back(keys=[self.key(key)])
        except (RedisError, OSError) as exc:
            self._shared.warn(exc)

    async def forget(self, key: str) -> None:
        await self._fallback.forget(key)
        await self._shared.delete(key)

    async def close(self) -> None:
        await self._shared.close()


def open_failure_counts(redis_url: str | None) -> FailureCounts:
    """Redis-backed counts when a Redis URL is configured, else in-process ones."""
    if redis_url:
        return RedisFailureCounts(redis_url)
    return MemoryFailureCounts()
