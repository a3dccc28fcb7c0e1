"""Revoking tokens: one path for /revoke, replay detection and ``tollhouse tokens revoke``.

Access tokens are JWTs and stay valid by signature until they expire, so revoking one
puts its ``jti`` on the revocation list until its ``exp`` (then it is purged). The list
is written to the database (the source of the ``/revocations`` feed) and to every
mirror, e.g. Redis shared with resource servers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tollhouse.clock import Clock
from tollhouse.errors import TemporarilyUnavailable
from tollhouse.models import Revocation
from tollhouse.protocol.events import NO_EVENTS, Events, FamilyRevoked, TokenRevoked
from tollhouse.storage.ports import AccessTokenStore, RefreshTokenStore, RevocationList

log = logging.getLogger("tollhouse.security")

RETENTION_AFTER_EXP = 60
"""Seconds a revocation is kept past the token's exp: at least any resource server's
leeway (``tollhouse.resource`` defaults to 30 s)."""


class Revoker:
    def __init__(
        self,
        revocations: RevocationList,
        refresh_tokens: RefreshTokenStore,
        access_tokens: AccessTokenStore,
        clock: Clock,
        mirrors: Sequence[RevocationList] = (),
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._revocations = revocations
        self._refresh = refresh_tokens
        self._access = access_tokens
        self._clock = clock
        self._mirrors = tuple(mirrors)

    async def revoke_access_token(self, jti: str, expires_at: int, reason: str) -> None:
        self._raise_if(not await self._record(jti, expires_at, reason))

    async def _record(self, jti: str, expires_at: int, reason: str) -> bool:
        """Write one revocation everywhere; False if a mirror could not be reached."""
        now = self._clock.now()
        # Resource servers accept a token for their clock-skew leeway after its exp, so
        # the entry outlives the token by that much (RETENTION_AFTER_EXP).
        keep_until = expires_at + RETENTION_AFTER_EXP
        if keep_until <= now:
            return True  # dead everywhere: nothing to remember
        revocation = Revocation(jti, keep_until, now, reason)
        await self._revocations.revoke(revocation)
        self._events.emit(TokenRevoked(jti, reason))
        shared = True
        for mirror in self._mirrors:
            try:
                await mirror.revoke(revocation)
            except Exception:
                shared = False
                log.exception("revocation mirror unreachable", extra={"jti": jti})
        return shared

    @staticmethod
    def _raise_if(failed: bool) -> None:
        if failed:
            # The database holds every revocation (the feed and introspection see it);
            # a mirror does not. Tell the caller to retry: revoking is idempotent.
            raise TemporarilyUnavailable(
                "The revocation was recorded but could not be shared yet; retry."
            )

    async def revoke_family(self, family_id: str, reason: str) -> int:
        """Kill a refresh token family and every access token issued from it."""
        now = self._clock.now()
        await self._refresh.revoke_family(family_id, now, reason)
        records = await self._access.access_tokens_of(now, family_id=family_id)
        shared = [await self._record(r.jti, r.expires_at, reason) for r in records]
        self._events.emit(FamilyRevoked(family_id, reason))
        self._raise_if(not all(shared))
        return len(records)

    async def revoke_client(self, client_id: str, reason: str = "client_revoked") -> int:
        """Every live token of a client: families and access tokens."""
        return await self._revoke_all(reason, client_id=client_id)

    async def revoke_subject(self, subject: str, reason: str = "user_revoked") -> int:
        """Every live token issued for a user (or a client's own ``sub``)."""
        return await self._revoke_all(reason, subject=subject)

    async def _revoke_all(
        self, reason: str, *, client_id: str | None = None, subject: str | None = None
    ) -> int:
        now = self._clock.now()
        for family in await self._refresh.families_of(client_id=client_id, subject=subject):
            await self._refresh.revoke_family(family.family_id, now, reason)
            self._events.emit(FamilyRevoked(family.family_id, reason))
        records = await self._access.access_tokens_of(now, client_id=client_id, subject=subject)
        shared = [await self._record(r.jti, r.expires_at, reason) for r in records]
        self._raise_if(not all(shared))
        return len(records)

    async def is_revoked(self, jti: str) -> bool:
        return await self._revocations.is_revoked(jti, self._clock.now())
