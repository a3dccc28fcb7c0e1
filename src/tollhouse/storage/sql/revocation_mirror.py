"""An in-process copy of the revocation list, kept current by SQLite's ``data_version``.

Introspection asks "is this jti revoked?" on every call, and a query for it is a
large part of an introspection's cost (bench/RESULTS.md). SQLite says cheaply whether
anything was committed to the file since we last looked: ``PRAGMA data_version`` on a
connection of our own, which never writes (two non-blocking ``fcntl`` locks and an
``fstat`` of the WAL index; the database itself is not read). While it is unchanged,
the copy answers. When it changed — a revocation by the CLI or by another worker, or
any other write — the revocations added since the last one seen (the feed cursor
``seq``) are read before answering, in one read shared by every request waiting for
it. So a revocation committed anywhere is seen by the next check after its commit,
exactly as with a query per check.

SQLite only: there one writer at a time assigns ``seq`` (AUTOINCREMENT, never reused),
so reading from the cursor cannot skip a row that commits later with a lower ``seq``.
PostgreSQL sequences can commit out of order and have no ``data_version``, so the
PostgreSQL backend keeps its query (an index lookup on the server).

The copy holds what the table holds — unexpired revocations, pruned as they expire —
so it is as bounded as the table the purger keeps bounded. Pruning visits only what has
expired (entries are filed by the minute they expire in): a list of a million live
revocations is not walked once a minute on the event loop.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tollhouse.models import Revocation

log = logging.getLogger(__name__)

PAGE = 1000
"""Revocations read per query while catching up."""
MAX_PAGES = 100
"""Catching up reads at most this many pages per sync; more left over → ask the table."""
PRUNE_EVERY = 60
"""Seconds between prunes, and the width of the expiry buckets they drop."""
RETRY_AFTER = 1.0
"""Seconds before reopening a ``data_version`` connection that failed."""
ATTEMPTS = 3
"""Syncs one check waits for (others may keep committing) before it asks the table."""


class DataVersion:
    """``PRAGMA data_version`` of a SQLite file, on a read-only connection of its own.

    Returns None when it cannot tell (the file is busy or gone): the caller then asks
    the database instead. ``busy_timeout`` is 0, so a call never sleeps.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._retry_at = 0.0

    def __call__(self) -> int | None:
        if self._connection is None and time.monotonic() < self._retry_at:
            return None
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    f"{self._path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=0,
                )
            row = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            log.debug("data_version unavailable: %s", exc)
            self.close()
            self._retry_at = time.monotonic() + RETRY_AFTER
            return None
        return int(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


RevocationsSince = Callable[[int, int, int], Awaitable[list[Revocation]]]
IsRevokedQuery = Callable[[str, int], Awaitable[bool]]


class RevocationMirror:
    """``is_revoked`` from memory while ``version()`` shows no new commit."""

    def __init__(
        self,
        version: DataVersion,
        revocations_since: RevocationsSince,
        is_revoked_query: IsRevokedQuery,
    ) -> None:
        self._version = version
        self._since = revocations_since
        self._query = is_revoked_query
        self._revoked: dict[str, int] = {}
        """jti → expires_at of every unexpired revocation read so far."""
        self._expiring: dict[int, list[str]] = {}
        """Bucket (``expires_at // PRUNE_EVERY``) → the jtis filed in it."""
        self._buckets: list[int] = []
        """The keys of ``_expiring`` as a heap: the earliest bucket first."""
        self._cursor = 0
        self._synced: int | None = None
        """``data_version`` read just before the last complete sync began."""
        self._sync_task: asyncio.Task[None] | None = None
        self._next_prune = 0

    async def is_revoked(self, jti: str, now: int) -> bool:
        for _ in range(ATTEMPTS):
            current = self._version()
            if current is None:
                break
            if current == self._synced:
                expires_at = self._revoked.get(jti)
                return expires_at is not None and expires_at > now
            await self._sync(now)
        return await self._query(jti, now)

    async def _sync(self, now: int) -> None:
        """Wait for the sync in flight, or start one."""
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._read_new(now), name="tollhouse-revocations")
        await asyncio.shield(self._sync_task)

    async def _read_new(self, now: int) -> None:
        version = self._version()  # before reading: later commits show as a new version
        for _ in range(MAX_PAGES):
            page = await self._since(self._cursor, now, PAGE)
            for revocation in page:
                self._remember(revocation.jti, revocation.expires_at)
                self._cursor = max(self._cursor, revocation.seq)
            if len(page) < PAGE:
                break
        else:
            return  # still behind: leave unsynced, callers ask the table meanwhile
        self._prune(now)
        self._synced = version

    def _remember(self, jti: str, expires_at: int) -> None:
        self._revoked[jti] = expires_at
        bucket = expires_at // PRUNE_EVERY
        filed = self._expiring.get(bucket)
        if filed is None:
            filed = self._expiring[bucket] = []
            heapq.heappush(self._buckets, bucket)
        filed.append(jti)

    def _prune(self, now: int) -> None:
        """Drop the buckets whose every entry has expired (``expires_at <= now``)."""
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        while self._buckets and (self._buckets[0] + 1) * PRUNE_EVERY <= now:
            for jti in self._expiring.pop(heapq.heappop(self._buckets)):
                expires_at = self._revoked.get(jti)
                if expires_at is not None and expires_at <= now:  # not revoked again since
                    del self._revoked[jti]

    def __len__(self) -> int:
        return len(self._revoked)

    def close(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
        self._version.close()
