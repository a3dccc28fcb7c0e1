"""The in-memory adapter's one-time uses (client assertion ``jti``s)."""

from __future__ import annotations

MAX_ENTRIES = 100_000
"""Beyond this many entries the expired ones are dropped."""


class MemoryOneTimeUses:
    """Implements :class:`~tollhouse.storage.ports.OneTimeUses` in one process."""

    _used_once: dict[str, int]

    async def use_once(self, key: str, expires_at: int, now: int) -> bool:
        used = self.__dict__.setdefault("_used_once", {})
        expires = used.get(key)
        if expires is not None and expires > now:
            return False
        if len(used) >= MAX_ENTRIES:
            for stale in [k for k, v in used.items() if v <= now]:
                del used[stale]
        used[key] = expires_at
        return True
