"""The in-memory token stores: revocations and their feed, refresh token families,
refresh tokens and access token records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from tollhouse.errors import Conflict
from tollhouse.models import (
    AccessTokenRecord,
    RefreshToken,
    Revocation,
    TokenFamily,
)
from tollhouse.storage.memory.tables import MemoryTables


class MemoryTokens(MemoryTables):
    """Implements ``RevocationList``, ``RevocationFeedStore``, ``RefreshTokenStore`` and
    ``AccessTokenStore`` of :mod:`tollhouse.storage.ports`."""

    # Revocations -----------------------------------------------------------------------

    async def revoke(self, revocation: Revocation) -> None:
        # The first revocation of a jti wins; the store numbers it, as a database would.
        if revocation.jti not in self._revocations:
            seq = next(self._revocation_seq)
            self._revocations[revocation.jti] = dataclasses.replace(revocation, seq=seq)

    async def is_revoked(self, jti: str, now: int) -> bool:
        revocation = self._revocations.get(jti)
        return revocation is not None and revocation.expires_at > now

    async def revocations_since(self, cursor: int, now: int, limit: int) -> list[Revocation]:
        return self._feed(lambda r: r.seq > cursor, now, limit)

    async def revocations_between(self, start: int, now: int, limit: int) -> list[Revocation]:
        return self._feed(lambda r: r.revoked_at >= start, now, limit)

    def _feed(self, wanted: Callable[[Revocation], bool], now: int, limit: int) -> list[Revocation]:
        found = sorted(
            (r for r in self._revocations.values() if r.expires_at > now and wanted(r)),
            key=lambda r: r.seq,
        )
        return found[: max(limit, 0)]

    # Refresh token families ---------------------------------------------------------------

    async def add_family(self, family: TokenFamily) -> None:
        if family.family_id in self._families or family.client_id not in self._clients:
            raise Conflict(f"token family {family.family_id!r} exists, or its client does not")
        self._families[family.family_id] = family

    async def get_family(self, family_id: str) -> TokenFamily | None:
        return self._families.get(family_id)

    async def revoke_family(self, family_id: str, now: int, reason: str) -> bool:
        family = self._families.get(family_id)
        if family is None or family.revoked_at is not None:
            return False
        self._families[family_id] = dataclasses.replace(
            family, revoked_at=now, revoked_reason=reason
        )
        return True

    async def families_of(
        self,
        *,
        client_id: str | None = None,
        subject: str | None = None,
        sid: str | None = None,
    ) -> list[TokenFamily]:
        if client_id is None and subject is None and sid is None:
            raise ValueError("families_of needs a client_id, a subject or a sid")
        found = [
            f
            for f in self._families.values()
            if f.revoked_at is None
            and client_id in (None, f.client_id)
            and subject in (None, f.subject)
            and sid in (None, f.sid)
        ]
        return sorted(found, key=lambda f: (f.created_at, f.family_id))

    # Refresh tokens ------------------------------------------------------------------------

    async def add_refresh_token(
        self, token: RefreshToken, *, family: TokenFamily | None = None
    ) -> None:
        if token.token_hash in self._refresh_tokens:
            raise Conflict("refresh token exists")
        if family is None:
            if token.family_id not in self._families:
                raise Conflict("the refresh token's family does not exist")
        elif family.family_id != token.family_id:
            raise Conflict("the refresh token belongs to another family")
        else:
            await self.add_family(family)  # checked first: nothing is stored on a conflict
        self._refresh_tokens[token.token_hash] = token

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh_tokens.get(token_hash)

    async def rotate_refresh_token(
        self, consume: str, successor: RefreshToken, now: int, *, replaces: str
    ) -> RefreshToken | None:
        token = self._refresh_tokens.get(consume)
        if token is None or token.used_at is not None or token.expires_at <= now:
            return None
        family = self._families.get(token.family_id)
        if family is None or not family.live_at(now):
            return None
        clash = successor.token_hash in self._refresh_tokens
        if clash or successor.family_id not in self._families:
            raise Conflict("refresh token exists, or its family does not")
        used = dataclasses.replace(token, used_at=now)
        self._refresh_tokens[consume] = used
        self._refresh_tokens[successor.token_hash] = successor
        replaced = self._refresh_tokens.get(replaces)
        if replaced is not None:
            self._refresh_tokens[replaces] = dataclasses.replace(
                replaced, replaced_by=successor.token_hash
            )
        return used

    # Access token records --------------------------------------------------------------------

    async def record_access_token(self, record: AccessTokenRecord) -> None:
        if record.jti in self._access_tokens:
            raise Conflict(f"access token {record.jti!r} is already recorded")
        self._access_tokens[record.jti] = record

    async def record_access_tokens(self, records: Iterable[AccessTokenRecord]) -> None:
        batch = list(records)
        jtis = [r.jti for r in batch]
        if len(set(jtis)) != len(jtis) or any(j in self._access_tokens for j in jtis):
            raise Conflict("an access token in the batch is already recorded")
        for record in batch:
            self._access_tokens[record.jti] = record

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None:
        return self._access_tokens.get(jti)

    async def access_tokens_of(
        self,
        now: int,
        *,
        family_id: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
    ) -> list[AccessTokenRecord]:
        if family_id is None and client_id is None and subject is None:
            raise ValueError("access_tokens_of needs a family_id, client_id or subject")
        found = [
            r
            for r in self._access_tokens.values()
            if r.expires_at > now
            and family_id in (None, r.family_id)
            and client_id in (None, r.client_id)
            and subject in (None, r.subject)
        ]
        return sorted(found, key=lambda r: (r.issued_at, r.jti))
