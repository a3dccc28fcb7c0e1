"""Recognising a token presented to /revoke or /introspect: one of our access token
JWTs (checked by signature) or one of our refresh tokens (found by hash)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tollhouse.clock import Clock
from tollhouse.protocol.tokens import ACCESS_TOKEN_TYP
from tollhouse.randomness import fingerprint
from tollhouse.storage.ports import RefreshTokenStore

MAX_TOKEN_LENGTH = 16 * 1024


class TokenVerifier(Protocol):
    def verify_jwt(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...


@dataclass(frozen=True, slots=True)
class FoundToken:
    kind: str
    """``access_token`` or ``refresh_token`` (RFC 7009 §2.1 hint values)."""
    client_id: str
    subject: str
    expires_at: int
    active: bool
    """Unexpired, not yet rotated, family alive (revocation list checked separately)."""
    claims: dict[str, Any]
    jti: str | None = None
    family_id: str | None = None


class TokenLookup:
    def __init__(
        self, verifier: TokenVerifier, refresh_tokens: RefreshTokenStore, clock: Clock, issuer: str
    ) -> None:
        self._verifier = verifier
        self._refresh = refresh_tokens
        self._clock = clock
        self._issuer = issuer

    async def find(self, token: str, hint: str | None = None) -> FoundToken | None:
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        if hint == "refresh_token":
            return await self._refresh_token(token) or self._access_token(token)
        return self._access_token(token) or await self._refresh_token(token)

    def _access_token(self, token: str) -> FoundToken | None:
        if token.count(".") != 2:
            return None
        verified = self._verifier.verify_jwt(token)
        if verified is None:
            return None
        header, claims = verified
        if header.get("typ") != ACCESS_TOKEN_TYP or claims.get("iss") != self._issuer:
            return None
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        client_id, subject, jti = claims.get("client_id"), claims.get("sub"), claims.get("jti")
        if not isinstance(exp, int) or not isinstance(nbf, int):
            return None
        if not all(isinstance(v, str) for v in (client_id, subject, jti)):
            return None
        now = self._clock.now()
        return FoundToken(
            kind="access_token",
            client_id=str(client_id),
            subject=str(subject),
            expires_at=exp,
            active=nbf <= now < exp,
            claims=claims,
            jti=str(jti),
        )

    async def _refresh_token(self, token: str) -> FoundToken | None:
        record = await self._refresh.get_refresh_token(fingerprint(token))
        if record is None:
            return None
        now = self._clock.now()
        family = await self._refresh.get_family(record.family_id)
        active = (
            record.used_at is None
            and record.expires_at > now
            and family is not None
            and family.live_at(now)
        )
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": record.subject,
            "client_id": record.client_id,
            "aud": record.audience,
            "exp": record.expires_at,
            "iat": record.created_at,
        }
        if record.scopes:
            claims["scope"] = " ".join(record.scopes)
        return FoundToken(
            kind="refresh_token",
            client_id=record.client_id,
            subject=record.subject,
            expires_at=record.expires_at,
            active=active,
            claims=claims,
            family_id=record.family_id,
        )
