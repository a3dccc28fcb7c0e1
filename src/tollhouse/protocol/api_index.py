"""The index of registered APIs that scope resolution reads, kept per registry load."""

from __future__ import annotations

from tollhouse.models import Api
from tollhouse.protocol.scopes import ApiIndex
from tollhouse.storage.ports import ApiSnapshots, ApiStore


class ApiIndexCache:
    """Builds :class:`ApiIndex` again only when the store hands out a new snapshot.

    With the in-process registry cache (an :class:`ApiSnapshots`), the snapshot is the
    same object until the registry changes anywhere or the cache's age runs out, so
    every request in between reuses one index. A plain store has no such promise: the
    index is built from its list on each call."""

    def __init__(self, apis: ApiStore) -> None:
        self._apis = apis
        self._snapshots = apis if isinstance(apis, ApiSnapshots) else None
        self._last: tuple[tuple[Api, ...], ApiIndex] | None = None

    async def get(self) -> ApiIndex:
        if self._snapshots is None:
            return ApiIndex.of(await self._apis.list_apis())
        snapshot = await self._snapshots.api_snapshot()
        last = self._last
        # Identity, not equality: comparing would walk every API on each request. The
        # held reference keeps the snapshot alive, so its identity cannot be reused.
        if last is None or last[0] is not snapshot:
            last = (snapshot, ApiIndex.of(snapshot))
            self._last = last
        return last[1]
