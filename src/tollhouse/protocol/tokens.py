"""RFC 9068 JWT access tokens, and the record kept of each so it can be revoked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tollhouse.clock import Clock
from tollhouse.models import AccessTokenRecord
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

    async def issue(
        self,
        *,
        subject: str,
        client_id: str,
        audience: str,
        scopes: tuple[str, ...],
        auth_time: int | None = None,
        ttl: int | None = None,
        family_id: str | None = None,
    ) -> IssuedAccessToken:
        now = self._clock.now()
        jti = ordered_identifier()
        expires_at = now + (ttl if ttl is not None else self._ttl)
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
        token = self._signer.sign_jwt(claims, typ=ACCESS_TOKEN_TYP)
        await self._records.record_access_token(
            AccessTokenRecord(jti, client_id, subject, expires_at, now, family_id)
        )
        self._events.emit(TokenIssued("access_token", client_id, subject, jti, family_id, audience))
        return IssuedAccessToken(token, jti, now, expires_at, scopes, audience)
