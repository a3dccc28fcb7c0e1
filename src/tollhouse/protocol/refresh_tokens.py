"""Issuing refresh tokens in families (RFC 6749 §6, RFC 9700 §4.14.2).

A refresh token is 256 bits of randomness; only its SHA-256 is stored. Each token
belongs to a family (one authorization); it expires when unused for the idle lifetime,
and never outlives the family's absolute lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.models import Client, RefreshToken, TokenFamily
from tollhouse.protocol.events import NO_EVENTS, Events, TokenIssued
from tollhouse.randomness import fingerprint, identifier, token
from tollhouse.storage.ports import RefreshTokenStore


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    value: str
    record: RefreshToken


class RefreshTokenIssuer:
    def __init__(
        self,
        store: RefreshTokenStore,
        clock: Clock,
        idle_ttl: int,
        absolute_ttl: int,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._store = store
        self._clock = clock
        self._idle_ttl = idle_ttl
        self._absolute_ttl = absolute_ttl

    async def start_family(
        self,
        client: Client,
        *,
        subject: str,
        scopes: tuple[str, ...],
        audience: str,
        auth_time: int | None,
        sid: str | None = None,
        offline: bool = False,
    ) -> IssuedRefreshToken:
        now = self._clock.now()
        absolute = client.refresh_token_absolute_ttl or self._absolute_ttl
        family = TokenFamily(
            identifier(16),
            client.client_id,
            subject,
            now,
            now + absolute,
            sid=sid,
            offline=offline,
        )
        return await self.issue(
            client, family, scopes=scopes, audience=audience, auth_time=auth_time, new=True
        )

    async def issue(
        self,
        client: Client,
        family: TokenFamily,
        *,
        scopes: tuple[str, ...],
        audience: str,
        auth_time: int | None,
        new: bool = False,
        replaces: str | None = None,
    ) -> IssuedRefreshToken:
        """A refresh token of ``family``: the family's first (``new``: the family is
        stored with it) or the successor of the token whose hash is ``replaces``."""
        now = self._clock.now()
        idle = client.refresh_token_ttl or self._idle_ttl
        value = token(32)
        record = RefreshToken(
            token_hash=fingerprint(value),
            family_id=family.family_id,
            client_id=client.client_id,
            subject=family.subject,
            scopes=scopes,
            audience=audience,
            auth_time=auth_time,
            created_at=now,
            expires_at=min(now + idle, family.expires_at),
        )
        await self._store.add_refresh_token(
            record, family=family if new else None, replaces=replaces
        )
        self._events.emit(
            TokenIssued(
                "refresh_token",
                client.client_id,
                family.subject,
                family_id=family.family_id,
                audience=audience,
            )
        )
        return IssuedRefreshToken(value, record)
