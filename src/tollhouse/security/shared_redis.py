"""The Redis connection behind counts every instance shares (rate limits, sign-in
lockouts).

Its users answer from an in-process fallback when Redis fails, so protection stays per
instance and requests are not refused because Redis is down; this class logs such a
failure at most once a minute and never lets a deletion fail its caller.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tollhouse.security")

WARNING_INTERVAL = 60.0
"""Seconds between two warnings that Redis is unreachable."""


class SharedRedis:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        unreachable: str,
        event: str,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.asyncio import Redis

        self.redis: Redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._unreachable = unreachable
        self._event = event
        self._now = now
        self._last_warning = -math.inf

    def key(self, key: str) -> str:
        return self._prefix + key

    def warn(self, exc: BaseException) -> None:
        """Log that Redis failed (``exc``), at most once per :data:`WARNING_INTERVAL`."""
        now = self._now()
        if now - self._last_warning >= WARNING_INTERVAL:
            self._last_warning = now
            log.warning(self._unreachable, extra={"event": self._event, "reason": repr(exc)})

    async def delete(self, key: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.delete(self.key(key))
        except (RedisError, OSError) as exc:
            self.warn(exc)

    async def close(self) -> None:
        await self.redis.aclose()
