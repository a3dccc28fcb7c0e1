"""Verified tokens, remembered by the SHA-256 of the token until they expire (bounded LRU).

Used by the validation core (:mod:`.validator`) and by the IdP's ``KeyRing.verify_jwt``.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any, Generic, NamedTuple, TypeVar


class Verified(NamedTuple):
    """What a successful signature and claims check established about one token."""

    claims: dict[str, Any]
    exp: float
    kid: str
    jti: str
    scopes: frozenset[str]


EntryT = TypeVar("EntryT")


class VerifiedTokenCache(Generic[EntryT]):
    """At most ``size`` entries; the least recently used goes first.

    Keys are token digests, so the cache holds no bearer token. An entry is only ever
    returned together with its ``exp``: the caller decides whether it is still valid.
    Safe to share between threads (a lost race costs one extra verification, no more).
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self.size = size
        self._entries: OrderedDict[bytes, EntryT] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> EntryT | None:
        entry = self._entries.get(digest)
        if entry is not None:
            with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
                self._entries.move_to_end(digest)
        return entry

    def put(self, digest: bytes, entry: EntryT) -> None:
        entries = self._entries
        entries[digest] = entry
        while len(entries) > self.size:
            try:
                entries.popitem(last=False)
            except KeyError:
                break

    def discard(self, digest: bytes) -> None:
        self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()
