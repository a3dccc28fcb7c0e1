"""Recognising a token presented to /revoke, /introspect or /userinfo: one of our access
tokens (judged by the resource library's validation core, with the keys this server
publishes) or one of our refresh tokens (found by hash)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tollhouse.clock import Clock
from tollhouse.protocol.refresh_tokens import could_be_issued
from tollhouse.randomness import fingerprint
from tollhouse.resource.errors import TokenError
from tollhouse.resource.jwk import SUPPORTED_ALGS
from tollhouse.resource.keyset import KeySet, parse_keys
from tollhouse.resource.validator import AccessTokenVerifier
from tollhouse.storage.ports import RefreshTokenStore

MAX_TOKEN_LENGTH: Final = 16 * 1024
ISSUER_LEEWAY: Final = 0
"""The issuer judges its own tokens by its own clock, so it forgives no skew: RFC 7662
§2.2 "active" means unexpired now. Resource servers allow
:data:`tollhouse.resource.at_jwt.DEFAULT_LEEWAY` for theirs."""
VERIFIED_CACHE_SIZE: Final = 4096
"""Access tokens remembered as verified (the same token is introspected again and
again); expiry is checked on every call and revocation by each endpoint."""
_ALGORITHMS: Final = frozenset(SUPPORTED_ALGS)


class TokenVerifier(Protocol):
    """Signature-only verification of a compact JWS (the ID Token hint of a logout)."""

    def verify_jwt(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...


class PublishedKeys(Protocol):
    """The key ring, as far as validation needs it: the RFC 7517 JWK Set it publishes."""

    def jwks(self) -> dict[str, list[dict[str, Any]]]: ...


class ServerKeys:
    """The validation core's key source inside the identity provider: the public keys
    it publishes, read in process from the key ring, never fetched over HTTP.

    The set is read again when the clock has moved on since the last read (keys leave
    the JWKS only as time passes) and at once for an unknown kid (a key the ring has
    just loaded); it is parsed again only when its kids changed.
    """

    last_error: str | None = None

    def __init__(self, ring: PublishedKeys, clock: Clock) -> None:
        self._ring = ring
        self._clock = clock
        self._read_at: int | None = None
        self._kids: tuple[str, ...] = ()
        self._keyset = KeySet({}, _ALGORITHMS)

    def current(self) -> KeySet:
        now = self._clock.now()
        if now != self._read_at:
            self._read(now)
        return self._keyset

    def load(self) -> KeySet:
        self._read(self._clock.now())
        return self._keyset

    def refetch_for(self, kid: str) -> KeySet:
        return self.load()

    def may_refetch(self, kid: str) -> bool:
        return True  # read in process, never rate-limited

    def _read(self, now: int) -> None:
        self._read_at = now
        published = self._ring.jwks()["keys"]
        kids = tuple(str(jwk.get("kid")) for jwk in published)
        if kids != self._kids:
            self._keyset = KeySet(parse_keys(published, _ALGORITHMS), _ALGORITHMS)
            self._kids = kids


@dataclass(frozen=True, slots=True)
class FoundToken:
    kind: str
    """``access_token`` or ``refresh_token`` (RFC 7009 §2.1 hint values)."""
    client_id: str
    subject: str
    expires_at: int
    active: bool
    """A refresh token unexpired, not yet rotated, its family alive; an access token is
    found only if valid. The revocation list is each endpoint's own check."""
    claims: dict[str, Any]
    jti: str | None = None
    family_id: str | None = None


class TokenLookup:
    def __init__(
        self, keys: PublishedKeys, refresh_tokens: RefreshTokenStore, clock: Clock, issuer: str
    ) -> None:
        self._access = AccessTokenVerifier(
            issuer,
            None,  # any audience: each endpoint decides whose tokens a caller may see
            ServerKeys(keys, clock),
            leeway=ISSUER_LEEWAY,
            cache_size=VERIFIED_CACHE_SIZE,
            clock=clock,
        )
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
        """An access token that passes every rule of the core (RFC 9068 §4); one that
        fails any of them is not ours to act on, expired ones included."""
        if "." not in token:
            return None  # opaque: a refresh token, not a JWS
        try:
            verified = self._access.verify(token)
        except TokenError:
            return None
        claims = verified.claims
        return FoundToken(
            kind="access_token",
            client_id=claims["client_id"],
            subject=claims["sub"],
            expires_at=math.ceil(verified.exp),
            active=True,
            claims=dict(claims),
            jti=verified.jti,
        )

    async def _refresh_token(self, token: str) -> FoundToken | None:
        if not could_be_issued(token):
            return None  # never one of ours: no database read for it
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
