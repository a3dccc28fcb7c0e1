"""In-process caches for the two reads on every token request: the client and the
list of APIs, kept current across processes by the registry's change counter.

Each ``/token`` or ``/introspect`` request looks up its client, and every grant
resolves scopes against the APIs. Both change rarely, and each lookup is a database
round trip (on SQLite through a worker thread), so they dominate the cost of a grant.
These wrappers keep the answers in memory, and a change made anywhere reaches them
within :data:`CHECK_INTERVAL` seconds (ADR 0011):

* every write to clients or APIs, by any process (``tollhouse clients delete``, RFC
  7592, another instance), raises a counter in the database in the same transaction
  (``RegistryVersion``). :class:`RegistryWatch` reads that counter at most once per
  :data:`CHECK_INTERVAL`, in one read shared by the requests that arrive meanwhile,
  and the caches drop everything they hold when it moved. A request therefore never
  waits for the database except for that one read twice a second.
* changes made through this process (dynamic registration) drop the entry at once.
* an entry is also dropped after ``ttl`` seconds (``TOLLHOUSE_CLIENT_CACHE_TTL``,
  default 5), a bound that holds even if the counter cannot be read; ``ttl=0`` turns
  the caches off.
* unknown client ids are not cached (a client created a moment ago works at once, and
  a flood of made-up ids cannot fill the cache); the cache is bounded
  (``max_entries``, least recently used evicted first).
* requests that miss together share one read (:class:`SingleFlight`): when the list of
  APIs expires under load, the requests arriving while it is read wait for that read
  instead of each reading every API again (with thousands of APIs, one read per
  waiting request would stall the event loop every ``ttl`` seconds).

The age is measured with ``time.monotonic`` (a cache age, not a protocol time).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from tollhouse.models import Api, Client
from tollhouse.storage.ports import ApiStore, ClientStore, RegistryVersion

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 10_000
CHECK_INTERVAL = 0.5
"""Seconds between reads of the change counter: a change is seen within this long
(plus one read), well inside the one second the contract promises."""


class RegistryWatch:
    """Tells the caches whether clients or APIs changed anywhere since they last asked.

    :meth:`epoch` returns a number that grows each time the database's counter is
    seen to have moved (or could not be read: then nothing cached is trusted). The
    counter is read when the last read started :data:`CHECK_INTERVAL` or more seconds
    ago; requests arriving during a read wait for that same read.
    """

    def __init__(
        self,
        source: RegistryVersion,
        *,
        interval: float = CHECK_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._interval = interval
        self._now = monotonic
        self._version: int | None = None
        self._checked_at = -math.inf
        self._epoch = 0
        self._read: asyncio.Task[None] | None = None

    @property
    def current(self) -> int:
        """The epoch as last determined, without reading the counter."""
        return self._epoch

    async def epoch(self) -> int:
        if self._now() - self._checked_at >= self._interval:
            if self._read is None or self._read.done():
                self._read = asyncio.create_task(self._check(), name="tollhouse-registry-watch")
            await asyncio.shield(self._read)
        return self._epoch

    async def _check(self) -> None:
        started = self._now()
        try:
            version: int | None = await self._source.registry_version()
        except Exception as exc:  # a database that is down: trust nothing cached
            log.warning("cannot read the registry change counter: %s", exc)
            version = None
        if version is None or version != self._version:
            self._epoch += 1
        self._version = version
        self._checked_at = started

    def changed_here(self) -> None:
        """A write through this process: what is cached elsewhere in it is stale too."""
        self._epoch += 1


class SingleFlight(Generic[K, V]):
    """At most one read per key in flight: callers that ask for a key while its read
    runs get that read's answer (or its exception).

    The read runs in a task of its own, so a caller that is cancelled (its client went
    away) does not cancel the read the others wait for. Keys should carry the registry
    epoch, so that a caller who has seen a change never joins a read begun before it.
    """

    def __init__(self) -> None:
        self._reads: dict[K, asyncio.Task[V]] = {}

    async def load(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        task = self._reads.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._reads[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def forget(self, matches: Callable[[K], bool]) -> None:
        """Callers from now on start a new read for the keys that ``matches``: what is in
        flight for them was read before a write (those already waiting still get it)."""
        for key in [key for key in self._reads if matches(key)]:
            del self._reads[key]

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._reads.get(key) is task:
            del self._reads[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone


class CachedClients:
    """A :class:`ClientStore` that remembers found clients until the registry changes
    (``watch``) or for ``ttl`` seconds, whichever comes first."""

    def __init__(
        self,
        inner: ClientStore,
        *,
        watch: RegistryWatch | None = None,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner = inner
        self._watch = watch
        self._ttl = ttl
        self._max = max_entries
        self._now = monotonic
        self._entries: OrderedDict[str, tuple[float, Client]] = OrderedDict()
        self._epoch = 0
        self._reads: SingleFlight[tuple[str, int], Client | None] = SingleFlight()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_client(self, client_id: str) -> Client | None:
        if self._ttl <= 0:
            return await self._inner.get_client(client_id)
        epoch = await self._fresh_epoch()
        entry = self._entries.get(client_id)
        now = self._now()
        if entry is not None and now - entry[0] < self._ttl:
            self._entries.move_to_end(client_id)
            return entry[1]
        client = await self._reads.load(
            (client_id, epoch), lambda: self._inner.get_client(client_id)
        )
        if client is None:
            self._entries.pop(client_id, None)
            return None
        if self._still(epoch):  # a change seen during the read: the row may be stale
            self._entries[client_id] = (now, client)
            self._entries.move_to_end(client_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return client

    async def _fresh_epoch(self) -> int:
        """The watch's epoch; everything cached is dropped when it moved."""
        if self._watch is None:
            return 0
        epoch = await self._watch.epoch()
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch
        return epoch

    def _still(self, epoch: int) -> bool:
        return self._watch is None or self._watch.current == epoch

    def forget(self, client_id: str) -> None:
        self._entries.pop(client_id, None)
        self._reads.forget(lambda key: key[0] == client_id)

    def _changed(self, client_id: str) -> None:
        """After a write through this process: drop the entry now, and keep reads that
        were in flight during the write from caching what they found."""
        self.forget(client_id)
        if self._watch is not None:
            self._watch.changed_here()

    async def add_client(self, client: Client) -> None:
        await self._inner.add_client(client)
        self._changed(client.client_id)

    async def list_clients(self) -> list[Client]:
        return await self._inner.list_clients()

    async def delete_client(self, client_id: str) -> bool:
        try:
            return await self._inner.delete_client(client_id)
        finally:
            self._changed(client_id)

    async def set_client_secret(
        self,
        client_id: str,
        secret_hash: str,
        *,
        previous_secret_hash: str | None = None,
        previous_secret_expires_at: int | None = None,
    ) -> bool:
        try:
            return await self._inner.set_client_secret(
                client_id,
                secret_hash,
                previous_secret_hash=previous_secret_hash,
                previous_secret_expires_at=previous_secret_expires_at,
            )
        finally:
            self._changed(client_id)

    async def update_client(self, client: Client) -> bool:
        try:
            return await self._inner.update_client(client)
        finally:
            self._changed(client.client_id)


def _log_failed_renewal(task: asyncio.Task[tuple[Api, ...]]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("cannot read the API list again: %s", error)


class CachedApis:
    """An :class:`ApiStore` whose list of APIs is remembered until the registry
    changes (``watch``) or for ``ttl`` seconds, whichever comes first. It is also an
    :class:`ApiSnapshots`: the remembered tuple is handed out as is.

    With a ``watch``, a list that reached ``ttl`` while the change counter stayed put is
    read again in the background, and requests keep the list they have meanwhile (but
    never one older than twice ``ttl``): with thousands of APIs that read takes long
    enough that every grant waiting for it would show in the latency percentiles.
    """

    def __init__(
        self,
        inner: ApiStore,
        *,
        watch: RegistryWatch | None = None,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._watch = watch
        self._ttl = ttl
        self._now = monotonic
        self._cached: tuple[float, int, tuple[Api, ...]] | None = None
        self._reads: SingleFlight[int, tuple[Api, ...]] = SingleFlight()
        self._renewal: asyncio.Task[tuple[Api, ...]] | None = None

    async def list_apis(self) -> list[Api]:
        return list(await self.api_snapshot())

    async def api_snapshot(self) -> tuple[Api, ...]:
        if self._ttl <= 0:
            return tuple(await self._inner.list_apis())
        epoch = 0 if self._watch is None else await self._watch.epoch()
        now = self._now()
        cached = self._cached
        if cached is not None and cached[1] == epoch:
            age = now - cached[0]
            if age < self._ttl:
                return cached[2]
            if self._watch is not None and age < 2 * self._ttl:
                self._renew(epoch, now)
                return cached[2]
        return await self._load(epoch, now)

    async def _load(self, epoch: int, now: float) -> tuple[Api, ...]:
        found = await self._reads.load(epoch, self._read_all)
        if self._watch is None or self._watch.current == epoch:
            self._cached = (now, epoch, found)
        return found

    def _renew(self, epoch: int, now: float) -> None:
        """Read the list again without anyone waiting for it (one read at a time)."""
        if self._renewal is not None and not self._renewal.done():
            return
        self._renewal = asyncio.ensure_future(self._load(epoch, now))
        self._renewal.add_done_callback(_log_failed_renewal)

    async def _read_all(self) -> tuple[Api, ...]:
        return tuple(await self._inner.list_apis())

    def forget(self) -> None:
        self._cached = None
        self._reads.forget(lambda _: True)
        if self._watch is not None:
            self._watch.changed_here()

    async def get_api(self, identifier: str) -> Api | None:
        return await self._inner.get_api(identifier)

    async def add_api(self, api: Api) -> None:
        try:
            await self._inner.add_api(api)
        finally:
            self.forget()

    async def delete_api(self, identifier: str) -> bool:
        try:
            return await self._inner.delete_api(identifier)
        finally:
            self.forget()
