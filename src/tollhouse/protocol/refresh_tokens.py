"""Issuing refresh tokens in families (RFC 6749 §6, RFC 9700 §4.14.2).

A refresh token is 256 bits of randomness; only its SHA-256 is stored. Each token
belongs to a family (one authorization); it expires when unused for the idle lifetime,
and never outlives the family's absolute lifetime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tollhouse.clock import Clock
from tollhouse.models import Client, RefreshToken, TokenFamily
from tollhouse.protocol.dpop_context import bound_key
from tollhouse.protocol.events import NO_EVENTS, Events, TokenIssued
from tollhouse.randomness import fingerprint, ordered_identifier, token

VALUE_BYTES: Final = 32
_VALUE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
"""What :func:`tollhouse.randomness.token` makes of :data:`VALUE_BYTES`: 43 base64url
characters without padding (RFC 4648 §5)."""


def could_be_issued(value: str) -> bool:
    """Whether ``value`` has the shape of every refresh token this server issues. One of
    another shape (a JWT, another server's token, garbage) cannot be found by its hash,
    so the store need not be asked."""
    return _VALUE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    value: str
    record: RefreshToken


class RefreshTokenIssuer:
    def __init__(
        self,
        clock: Clock,
        idle_ttl: int,
        absolute_ttl: int,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._clock = clock
        self._idle_ttl = idle_ttl
        self._absolute_ttl = absolute_ttl

    def new_family(
        self,
        client: Client,
        *,
        subject: str,
        sid: str | None = None,
        offline: bool = False,
        amr: tuple[str, ...] = (),
        acr: str | None = None,
    ) -> TokenFamily:
        """A family for a new authorization (not stored yet: the code grant stores it with
        what the code issued, ``CodeStore.consume_code``). ``amr``/``acr``: how the user
        authenticated, for the ID Tokens of later refreshes."""
        now = self._clock.now()
        absolute = client.refresh_token_absolute_ttl or self._absolute_ttl
        return TokenFamily(
            ordered_identifier(),
            client.client_id,
            subject,
            now,
            now + absolute,
            sid=sid,
            offline=offline,
            amr=amr,
            acr=acr,
            # RFC 9449 §5: a public client's refresh tokens are bound to the key that
            # proved this request; confidential clients' by their authentication.
            dpop_jkt=bound_key.get() if client.is_public else None,
        )

    def build(
        self,
        client: Client,
        family: TokenFamily,
        *,
        scopes: tuple[str, ...],
        audience: str,
        auth_time: int | None,
    ) -> IssuedRefreshToken:
        """A refresh token of ``family``, not stored yet; :meth:`announce` it once it is."""
        now = self._clock.now()
        idle = client.refresh_token_ttl or self._idle_ttl
        value = token(VALUE_BYTES)
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
        return IssuedRefreshToken(value, record)

    def announce(self, issued: IssuedRefreshToken) -> None:
        """The security event of a stored refresh token."""
        record = issued.record
        self._events.emit(
            TokenIssued(
                "refresh_token",
                record.client_id,
                record.subject,
                family_id=record.family_id,
                audience=record.audience,
            )
        )
