"""The SQL adapter's one-time uses (client assertion ``jti``s, RFC 7523 §3).

The primary key does the work: of two instances recording one value at once, the
database lets one insert win, so no replay slips between a check and a set.
"""

from __future__ import annotations

from tollhouse.errors import Conflict
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import used_once


class SqlOneTimeUses(SqlRunner):
    """Implements :class:`~tollhouse.storage.ports.OneTimeUses`."""

    async def use_once(self, key: str, expires_at: int, now: int) -> bool:
        try:
            await self._insert(used_once, {"use_key": key, "expires_at": expires_at}, "used")
        except Conflict:
            return False
        return True
