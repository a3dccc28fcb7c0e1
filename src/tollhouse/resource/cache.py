"""Verified tokens, remembered by the SHA-256 of the token until they expire (bounded LRU).

Used by the validation core (:mod:`.validator`) and by the IdP's ``KeyRing.verify_jwt``.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, NamedTuple, TypeVar


class Verified(NamedTuple):
    """What a successful signature and claims check established about one token."""

    claims: dict[str, Any]
    exp: float
    kid: str
    jti: str
    scopes: frozenset[str]


KeyT = TypeVar("KeyT", bound=Hashable)
EntryT = TypeVar("EntryT")


class Lru(Generic[KeyT, EntryT]):
    """At most ``size`` entries; the least recently used goes first. Safe to share
    between threads (a lost race costs the caller one more computation, no more)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self.size = size
        self._entries: OrderedDict[KeyT, EntryT] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: KeyT) -> EntryT | None:
        entry = self._entries.get(key)
        if entry is not None:
            with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
                self._entries.move_to_end(key)
        return entry

    def put(self, key: KeyT, entry: EntryT) -> None:
        entries = self._entries
        entries[key] = entry
        while len(entries) > self.size:
            try:
                entries.popitem(last=False)
            except KeyError:
                break


class VerifiedTokenCache(Lru[bytes, EntryT]):
    """Verified tokens by digest. Keys are token digests, so the cache holds no bearer
    token. An entry is only ever returned together with its ``exp``: the caller decides
    whether it is still valid."""

    def discard(self, digest: bytes) -> None:
        self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()
