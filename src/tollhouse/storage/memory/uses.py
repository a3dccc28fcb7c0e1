"""The in-memory adapter's single-use records: client assertion ``jti``s and pushed
authorization requests."""

from __future__ import annotations

import copy

from tollhouse.errors import Conflict
from tollhouse.models import PushedRequest

MAX_ENTRIES = 100_000
"""Beyond this many entries the expired ones are dropped."""


class MemoryOneTimeUses:
    """Implements :class:`~tollhouse.storage.ports.OneTimeUses` and
    :class:`~tollhouse.storage.ports.PushedRequestStore` in one process."""

    async def use_once(self, key: str, expires_at: int, now: int) -> bool:
        used: dict[str, int] = self.__dict__.setdefault("_used_once", {})
        expires = used.get(key)
        if expires is not None and expires > now:
            return False
        if len(used) >= MAX_ENTRIES:
            for stale in [k for k, v in used.items() if v <= now]:
                del used[stale]
        used[key] = expires_at
        return True

    async def add_pushed_request(self, pushed: PushedRequest) -> None:
        held: dict[str, PushedRequest] = self.__dict__.setdefault("_pushed", {})
        if pushed.request_hash in held:
            raise Conflict("pushed request already exists")
        held[pushed.request_hash] = copy.deepcopy(pushed)

    async def take_pushed_request(self, request_hash: str, now: int) -> PushedRequest | None:
        held: dict[str, PushedRequest] = self.__dict__.setdefault("_pushed", {})
        taken = held.pop(request_hash, None)
        return None if taken is None or taken.expires_at <= now else taken
