"""The in-memory code and consent stores."""

from __future__ import annotations

import dataclasses

from tollhouse.errors import Conflict
from tollhouse.models import AuthorizationCode, Consent
from tollhouse.storage.memory.tokens import MemoryTokens
from tollhouse.storage.ports import IssuedByCode


class MemoryCodes(MemoryTokens):
    """Implements ``CodeStore`` and ``ConsentStore`` of :mod:`tollhouse.storage.ports`."""

    async def add_code(self, code: AuthorizationCode) -> None:
        if (
            code.code_hash in self._codes
            or code.client_id not in self._clients
            or code.user_id not in self._users
        ):
            raise Conflict("authorization code exists, or its client or user does not")
        self._codes[code.code_hash] = code

    async def consume_code(
        self, code_hash: str, now: int, issued: IssuedByCode | None = None
    ) -> AuthorizationCode | None:
        code = self._codes.get(code_hash)
        if code is None or code.used_at is not None or code.expires_at <= now:
            return None
        record = None if issued is None else issued.access_token
        if record is not None and record.jti in self._access_tokens:
            # Checked before anything is stored: on a conflict nothing is written.
            raise Conflict(f"access token {record.jti!r} is already recorded")
        if issued is not None and issued.family is not None and issued.first_token is not None:
            # Checked and stored first: on a conflict the code stays unused.
            await self.add_refresh_token(issued.first_token, family=issued.family)
        if record is not None:
            await self.record_access_token(record)
        used = dataclasses.replace(
            code,
            used_at=now,
            issued_jti=None if issued is None else issued.jti,
            issued_exp=None if issued is None else issued.exp,
            family_id=None if issued is None or issued.family is None else issued.family.family_id,
        )
        self._codes[code_hash] = used
        return used

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        return self._codes.get(code_hash)

    # Consents ----------------------------------------------------------------------

    async def get_consent(self, user_id: str, client_id: str) -> Consent | None:
        return self._consents.get((user_id, client_id))

    async def save_consent(self, consent: Consent) -> None:
        if consent.user_id not in self._users or consent.client_id not in self._clients:
            raise Conflict("consent names a user or client that does not exist")
        self._consents[(consent.user_id, consent.client_id)] = consent
