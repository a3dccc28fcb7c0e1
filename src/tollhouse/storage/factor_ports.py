"""The storage port of users' second factors (part of storage/ports.py's ``Storage``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollhouse.models import Passkey, TotpFactor


class FactorStore(Protocol):
    """Second factors: one TOTP authenticator and the recovery codes' digests per user."""

    async def get_totp(self, user_id: str) -> TotpFactor | None: ...

    async def list_totp(self) -> list[TotpFactor]:
        """Every authenticator (``keys rewrap`` re-seals them)."""

    async def put_totp(self, factor: TotpFactor) -> None:
        """Add or replace the user's authenticator."""

    async def confirm_totp(self, user_id: str, step: int) -> bool:
        """Mark an unconfirmed authenticator confirmed, its code's ``step`` used."""

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record ``step`` as used, atomically, only if it is later than the last one
        used (RFC 6238 §5.2); False: a replay, or no confirmed authenticator."""

    async def set_recovery_codes(self, user_id: str, digests: Sequence[str]) -> None:
        """Replace the user's recovery codes."""

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def use_recovery_code(self, user_id: str, digest: str) -> bool:
        """Delete one code, atomically; False if it was not there (unknown or used)."""

    async def reset_factors(self, user_id: str) -> bool:
        """Remove the authenticator, passkeys and recovery codes; False if none."""

    async def add_passkey(self, passkey: Passkey) -> None:
        """Raises ``Conflict`` if the credential is registered already."""

    async def list_passkeys(self, user_id: str) -> list[Passkey]: ...

    async def use_passkey(self, credential_id: str, seen: int, new: int) -> bool:
        """Move the signature counter from ``seen`` to ``new``, atomically; False if
        another use moved it first."""
