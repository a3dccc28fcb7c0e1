"""The Redis adapter: a revocation list shared with resource servers, and the DPoP
proof replay cache shared by the instances.

Each revoked access token is one key, ``<prefix>revoked:<jti>`` (by default
``tollhouse:revoked:<jti>``), holding the reason and expiring with the token, so Redis
forgets it when the token could no longer be used anyway. ``tollhouse.resource``
checks that exact key: changing its format breaks deployed resource servers.

Expiry is Redis's: the entry lives for the token's remaining lifetime measured from
``Revocation.revoked_at`` (the provider's clock at revocation), and ``is_revoked``
ignores ``now``.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.models import Revocation

DEFAULT_PREFIX = "tollhouse:"


class RedisRevocationList:
    """Implements :class:`~tollhouse.storage.ports.RevocationList` on ``redis.asyncio``."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        # Bounded: a Redis that hangs must fail the request (503), not hold it forever.
        self._redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def key(self, jti: str) -> str:
        """The Redis key that marks ``jti`` revoked."""
        return f"{self._prefix}revoked:{jti}"

    async def revoke(self, revocation: Revocation) -> None:
        """Idempotent: ``SET … NX`` keeps the first reason and its expiry."""
        ttl = revocation.expires_at - revocation.revoked_at
        if ttl <= 0:
            return  # already expired: nothing to remember
        await self._redis.set(self.key(revocation.jti), revocation.reason, ex=ttl, nx=True)

    async def is_revoked(self, jti: str, now: int) -> bool:
        return bool(await self._redis.exists(self.key(jti)))

    async def ping(self) -> None:
        """Raise if Redis is unreachable."""
        await self._redis.ping()

    def replay_cache(self) -> RedisReplayCache:
        """The DPoP replay cache on the same connection (closed with this list)."""
        return RedisReplayCache(self._redis, self._prefix)

    async def close(self) -> None:
        await self._redis.aclose()


class RedisReplayCache:
    """RFC 9449 §11.1 replay cache shared by every instance: one key per proof,
    ``<prefix>dpop:<hash>``, set only if absent and expiring with the proof's window."""

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    async def first_use(self, key: str, ttl: int) -> bool:
        """Fails closed: without Redis no instance can tell a replay, so the request is
        refused with 503 and ``Retry-After`` (never accepted, never a 500)."""
        try:
            stored = await self._redis.set(f"{self._prefix}dpop:{key}", b"1", ex=ttl, nx=True)
        except (RedisError, OSError):
            raise TemporarilyUnavailable(
                "The server cannot check DPoP proofs right now; retry shortly."
            ) from None
        return bool(stored)
