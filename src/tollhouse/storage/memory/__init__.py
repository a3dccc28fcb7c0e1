"""The in-memory adapter: every storage port in plain dicts, for unit tests.

It keeps the SQL adapter's rules, so a test that passes here passes on a database:
duplicates and dangling references raise :class:`~tollhouse.errors.Conflict`,
deleting a user or client removes what hangs off it, and a code or refresh token is
consumed once.
Methods never await anything that yields, so each runs to completion on the event
loop: that is what makes ``consume_code`` atomic here. Mutable fields are copied in
and out, as a database would.
"""

from __future__ import annotations

from tollhouse.storage.memory.accounts import MemoryAccounts
from tollhouse.storage.memory.codes import MemoryCodes
from tollhouse.storage.memory.devices import MemoryDevices
from tollhouse.storage.memory.factors import MemoryFactors
from tollhouse.storage.memory.keys import MemoryKeys
from tollhouse.storage.memory.sessions import MemorySessions
from tollhouse.storage.memory.tokens import MemoryTokens
from tollhouse.storage.memory.uses import MemoryOneTimeUses

__all__ = ["MemoryStorage"]


class MemoryStorage(
    MemoryAccounts,
    MemoryCodes,
    MemoryDevices,
    MemorySessions,
    MemoryKeys,
    MemoryTokens,
    MemoryOneTimeUses,
    MemoryFactors,
):
    """Implements :class:`~tollhouse.storage.ports.Storage` in process memory."""

    async def delete_user(self, username: str) -> bool:
        user = await self.get_user_by_username(username)
        if user is not None:
            self._forget_factors(user.user_id)
        return await super().delete_user(username)
