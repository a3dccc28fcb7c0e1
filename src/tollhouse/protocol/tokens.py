"""RFC 9068 JWT access tokens, and the record kept of each so it can be revoked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tollhouse.clock import Clock
from tollhouse.models import AccessTokenRecord
from tollhouse.protocol.dpop_context import confirmation
from tollhouse.protocol.events import NO_EVENTS, Events, TokenIssued
from tollhouse.randomness import ordered_identifier
from tollhouse.storage.ports import AccessTokenStore

ACCESS_TOKEN_TYP = "at+jwt"


class TokenSigner(Protocol):
    def sign_jwt(self, claims: dict[str, Any], *, typ: str, alg: str | None = None) -> str: ...

    async def sign_jwt_async(
        self, claims: dict[str, Any], *, typ: str, alg: str | None = None
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int
    scopes: tuple[str, ...]
    audience: str

    @property
    def expires_in(self) -> int:
        return self.expires_at - self.issued_at


@dataclass(frozen=True, slots=True)
class ReservedAccessToken:
    """An access token's ``jti`` and lifetime, chosen before it is minted: the code
    grant records them with the code's consumption (RFC 6749 §4.1.2)."""

    jti: str
    issued_at: int
    expires_at: int


class AccessTokenIssuer:
    """Mints access tokens; RFC 9068 §2.2 names the claims and §2.1 the ``typ``."""

    def __init__(
        self,
        signer: TokenSigner,
        records: AccessTokenStore,
        clock: Clock,
        issuer: str,
        ttl: int,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._signer = signer
        self._records = records
        self._clock = clock
        self._issuer = issuer
        self._ttl = ttl

    def reserve(self, ttl: int | None = None) -> ReservedAccessToken:
        """The ``jti`` and lifetime of a token to :meth:`issue` later."""
        now = self._clock.now()
        expires_at = now + (ttl if ttl is not None else self._ttl)
        return ReservedAccessToken(ordered_identifier(), now, expires_at)

    @staticmethod
    def record_of(
        reserved: ReservedAccessToken, *, client_id: str, subject: str, family_id: str | None
    ) -> AccessTokenRecord:
        """The record :meth:`issue` would store for ``reserved``: for a caller that
        stores it in a write of its own (the code grant, with the code's consumption),
        then passes ``recorded=True``."""
        return AccessTokenRecord(
            reserved.jti,
            client_id,
            subject,
            reserved.expires_at,
            reserved.issued_at,
            family_id,
        )

    async def issue(
        self,
        *,
        subject: str,
        client_id: str,
        audience: str,
        scopes: tuple[str, ...],
        auth_time: int | None = None,
        amr: tuple[str, ...] = (),
        acr: str | None = None,
        ttl: int | None = None,
        family_id: str | None = None,
        reserved: ReservedAccessToken | None = None,
        recorded: bool = False,
    ) -> IssuedAccessToken:
        """Mint and record a token; ``reserved`` (from :meth:`reserve`, which took the
        ``ttl``) fixes its ``jti`` and lifetime. ``recorded``: the caller has already
        stored :meth:`record_of` ``reserved``."""
        if reserved is None:
            reserved = self.reserve(ttl)
        jti, now, expires_at = reserved.jti, reserved.issued_at, reserved.expires_at
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "exp": expires_at,
            "iat": now,
            "nbf": now,
            "jti": jti,
            "client_id": client_id,
        }
        if scopes:
            # RFC 9068 §2.2.3: space-delimited, as in RFC 8693 §4.2.
            claims["scope"] = " ".join(scopes)
        if auth_time is not None:
            claims["auth_time"] = auth_time
        cnf = confirmation()
        if cnf is not None:
            claims["cnf"] = cnf
        # RFC 9068 §2.2.1: how the user authenticated, for step-up checks (RFC 9470).
        if amr:
            claims["amr"] = list(amr)
        if acr is not None:
            claims["acr"] = acr
        token = self._signer.sign_jwt(claims, typ=ACCESS_TOKEN_TYP)
        if not recorded:
            await self._records.record_access_token(
                AccessTokenRecord(jti, client_id, subject, expires_at, now, family_id)
            )
        self._events.emit(TokenIssued("access_token", client_id, subject, jti, family_id, audience))
        return IssuedAccessToken(token, jti, now, expires_at, scopes, audience)
