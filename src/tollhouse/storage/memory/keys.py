"""The in-memory signing key store."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

from tollhouse.errors import Conflict
from tollhouse.models import SigningKey
from tollhouse.storage.memory.tables import MemoryTables


class MemoryKeys(MemoryTables):
    """Implements :class:`~tollhouse.storage.ports.KeyStore`."""

    # Signing keys ----------------------------------------------------------------------

    async def add_key(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise Conflict(f"key {key.kid!r} already exists")
        if key.generation is not None and any(
            (k.alg, k.generation) == (key.alg, key.generation) for k in self._keys.values()
        ):
            raise Conflict(
                f"key {key.kid!r} or {key.alg} key generation {key.generation} already exists"
            )
        self._keys[key.kid] = copy.deepcopy(key)

    async def list_keys(self) -> list[SigningKey]:
        newest_first = sorted(self._keys.values(), key=lambda k: (-k.created_at, k.kid))
        return copy.deepcopy(newest_first)

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        """Set ``status``; ``retired_at`` becomes ``at``, or None when back to active."""
        key = self._keys.get(kid)
        if key is None:
            return False
        retired_at = None if status == "active" else at
        self._keys[kid] = dataclasses.replace(key, status=status, retired_at=retired_at)
        return True

    async def delete_retired_keys(self, retired_before: int) -> int:
        gone = [
            kid
            for kid, key in self._keys.items()
            if key.status == "retired"
            and key.retired_at is not None
            and key.retired_at <= retired_before
        ]
        for kid in gone:
            del self._keys[kid]
        return len(gone)

    async def replace_key_ciphertexts(
        self, replacements: Mapping[str, tuple[bytes, bytes]]
    ) -> None:
        for kid, (old, _new) in replacements.items():  # check all first: all or nothing
            key = self._keys.get(kid)
            if key is None or key.private_ciphertext != old:
                raise Conflict(f"key {kid!r} is gone or was changed meanwhile")
        for kid, (_old, new) in replacements.items():
            self._keys[kid] = dataclasses.replace(self._keys[kid], private_ciphertext=new)
