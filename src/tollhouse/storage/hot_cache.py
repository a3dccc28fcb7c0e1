"""Short-lived in-process caches for the two reads on every token request: the client
and the list of APIs.

Each ``/token`` or ``/introspect`` request looks up its client, and every grant
resolves scopes against the APIs. Both change rarely, and each lookup is a database
round trip (on SQLite through a worker thread), so they dominate the cost of a grant.
These wrappers keep the answers for ``ttl`` seconds (default 5):

* a client deleted or given a new secret from another process (``tollhouse clients
  delete|rotate-secret``, another worker) keeps working in this process for at most
  ``ttl`` seconds; changes made through this process (dynamic registration) drop the
  entry at once. ``TOLLHOUSE_CLIENT_CACHE_TTL=0`` turns the caches off.
* unknown client ids are not cached (a client created a moment ago works at once, and
  a flood of made-up ids cannot fill the cache).
* the cache is bounded (``max_entries``, least recently used evicted first).

The age is measured with ``time.monotonic`` (a cache age, not a protocol time).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from tollhouse.models import Api, Client
from tollhouse.storage.ports import ApiStore, ClientStore

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 10_000


class CachedClients:
    """A :class:`ClientStore` that remembers found clients for ``ttl`` seconds."""

    def __init__(
        self,
        inner: ClientStore,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._now = monotonic
        self._entries: OrderedDict[str, tuple[float, Client]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_client(self, client_id: str) -> Client | None:
        if self._ttl <= 0:
            return await self._inner.get_client(client_id)
        entry = self._entries.get(client_id)
        now = self._now()
        if entry is not None and now - entry[0] < self._ttl:
            self._entries.move_to_end(client_id)
            return entry[1]
        client = await self._inner.get_client(client_id)
        if client is None:
            self._entries.pop(client_id, None)
            return None
        self._entries[client_id] = (now, client)
        self._entries.move_to_end(client_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return client

    def forget(self, client_id: str) -> None:
        self._entries.pop(client_id, None)

    async def add_client(self, client: Client) -> None:
        self.forget(client.client_id)
        await self._inner.add_client(client)

    async def list_clients(self) -> list[Client]:
        return await self._inner.list_clients()

    async def delete_client(self, client_id: str) -> bool:
        self.forget(client_id)
        return await self._inner.delete_client(client_id)

    async def set_client_secret(
        self,
        client_id: str,
        secret_hash: str,
        *,
        previous_secret_hash: str | None = None,
        previous_secret_expires_at: int | None = None,
    ) -> bool:
        self.forget(client_id)
        return await self._inner.set_client_secret(
            client_id,
            secret_hash,
            previous_secret_hash=previous_secret_hash,
            previous_secret_expires_at=previous_secret_expires_at,
        )

    async def update_client(self, client: Client) -> bool:
        self.forget(client.client_id)
        return await self._inner.update_client(client)


class CachedApis:
    """An :class:`ApiStore` whose ``list_apis`` is remembered for ``ttl`` seconds."""

    def __init__(
        self,
        inner: ApiStore,
        *,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._now = monotonic
        self._cached: tuple[float, list[Api]] | None = None

    async def list_apis(self) -> list[Api]:
        if self._ttl <= 0:
            return await self._inner.list_apis()
        now = self._now()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return list(self._cached[1])
        found = await self._inner.list_apis()
        self._cached = (now, found)
        return list(found)

    def forget(self) -> None:
        self._cached = None

    async def get_api(self, identifier: str) -> Api | None:
        return await self._inner.get_api(identifier)

    async def add_api(self, api: Api) -> None:
        self.forget()
        await self._inner.add_api(api)

    async def delete_api(self, identifier: str) -> bool:
        self.forget()
        return await self._inner.delete_api(identifier)
