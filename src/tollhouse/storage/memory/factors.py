"""The in-memory second factors: TOTP authenticators and recovery code digests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tollhouse.errors import Conflict
from tollhouse.models import Passkey, TotpFactor


class MemoryFactors:
    """Implements ``FactorStore`` of :mod:`tollhouse.storage.ports`."""

    def __init__(self) -> None:
        super().__init__()
        self._totp: dict[str, TotpFactor] = {}
        self._recovery: dict[str, set[str]] = {}
        self._passkeys: dict[str, Passkey] = {}

    async def get_totp(self, user_id: str) -> TotpFactor | None:
        return self._totp.get(user_id)

    async def list_totp(self) -> list[TotpFactor]:
        return list(self._totp.values())

    async def put_totp(self, factor: TotpFactor) -> None:
        self._totp[factor.user_id] = factor

    async def confirm_totp(self, user_id: str, step: int) -> bool:
        factor = self._totp.get(user_id)
        if factor is None or factor.confirmed:
            return False
        self._totp[user_id] = dataclasses.replace(factor, confirmed=True, last_step=step)
        return True

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        factor = self._totp.get(user_id)
        if factor is None or not factor.confirmed:
            return False
        if factor.last_step is not None and factor.last_step >= step:
            return False
        self._totp[user_id] = dataclasses.replace(factor, last_step=step)
        return True

    async def set_recovery_codes(self, user_id: str, digests: Sequence[str]) -> None:
        self._recovery[user_id] = set(digests)

    async def recovery_codes_left(self, user_id: str) -> int:
        return len(self._recovery.get(user_id, ()))

    async def use_recovery_code(self, user_id: str, digest: str) -> bool:
        codes = self._recovery.get(user_id, set())
        if digest not in codes:
            return False
        codes.discard(digest)
        return True

    async def reset_factors(self, user_id: str) -> bool:
        had_totp = self._totp.pop(user_id, None) is not None
        had_codes = bool(self._recovery.pop(user_id, None))
        keys = [c for c, p in self._passkeys.items() if p.user_id == user_id]
        for credential_id in keys:
            del self._passkeys[credential_id]
        return had_totp or had_codes or bool(keys)

    def _forget_factors(self, user_id: str) -> None:
        self._totp.pop(user_id, None)
        self._recovery.pop(user_id, None)
        self._passkeys = {c: p for c, p in self._passkeys.items() if p.user_id != user_id}

    async def add_passkey(self, passkey: Passkey) -> None:
        if passkey.credential_id in self._passkeys:
            raise Conflict("this passkey is registered already")
        self._passkeys[passkey.credential_id] = passkey

    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        found = [p for p in self._passkeys.values() if p.user_id == user_id]
        return sorted(found, key=lambda p: p.created_at)

    async def use_passkey(self, credential_id: str, seen: int, new: int) -> bool:
        passkey = self._passkeys.get(credential_id)
        if passkey is None or passkey.sign_count != seen:
            return False
        self._passkeys[credential_id] = dataclasses.replace(passkey, sign_count=new)
        return True
