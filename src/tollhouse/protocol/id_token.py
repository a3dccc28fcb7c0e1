"""OpenID Connect Core §2 / §3.1.3.6 ID Tokens."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from tollhouse.clock import Clock
from tollhouse.models import Client
from tollhouse.protocol.events import NO_EVENTS, Events, TokenIssued
from tollhouse.protocol.subjects import Subjects
from tollhouse.protocol.token_lookup import TokenVerifier
from tollhouse.protocol.tokens import TokenSigner

DEFAULT_ALG = "RS256"
"""OIDC Registration §2: id_token_signed_response_alg "The default, if omitted, is RS256"."""
_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


def left_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: base64url of the left half of the hash of the token,
    with the hash of the ID token's alg (SHA-512 for EdDSA/Ed25519)."""
    digest = _HASHES[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Authentication:
    """Facts about the user's sign-in carried into the ID Token."""

    user_id: str
    auth_time: int | None
    nonce: str | None = None
    sid: str | None = None
    amr: tuple[str, ...] = ()
    """RFC 8176 method names, as the sign-in reported them."""
    acr: str | None = None


class IdTokenIssuer:
    def __init__(
        self,
        signer: TokenSigner,
        subjects: Subjects,
        clock: Clock,
        issuer: str,
        ttl: int,
        *,
        events: Events = NO_EVENTS,
    ) -> None:
        self._events = events
        self._signer = signer
        self._subjects = subjects
        self._clock = clock
        self._issuer = issuer
        self._ttl = ttl

    def alg_for(self, client: Client) -> str:
        return client.id_token_signed_response_alg or DEFAULT_ALG

    async def issue(self, client: Client, auth: Authentication, *, access_token: str | None) -> str:
        now = self._clock.now()
        alg = self.alg_for(client)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": self._subjects.for_client(client, auth.user_id),
            "aud": client.client_id,
            "exp": now + self._ttl,
            "iat": now,
            # OIDC Core §2: azp "MAY be included even when the authorized party is the
            # same as the sole audience"; some RPs expect it.
            "azp": client.client_id,
        }
        if auth.auth_time is not None:
            claims["auth_time"] = auth.auth_time
        if auth.nonce is not None:
            # OIDC Core §3.1.3.6: "the nonce Claim Value MUST be ... the same as the one
            # that was sent in the Authentication Request."
            claims["nonce"] = auth.nonce
        if access_token is not None:
            claims["at_hash"] = left_hash(access_token, alg)
        if auth.sid:
            claims["sid"] = auth.sid
        if auth.amr:
            claims["amr"] = list(auth.amr)
        if auth.acr is not None:
            claims["acr"] = auth.acr
        # RS256 (OIDC's default) is slow: made on another core when there is one.
        signed = await self._signer.sign_jwt_async(claims, typ="JWT", alg=alg)
        self._events.emit(TokenIssued("id_token", client.client_id, auth.user_id))
        return signed


class IdTokenHintVerifier:
    """Recognises our own ID Tokens given back as ``id_token_hint`` (OIDC Core §3.1.2.1,
    RP-Initiated Logout §2): signature, issuer and audience; expiry is not required."""

    def __init__(self, verifier: TokenVerifier, subjects: Subjects, issuer: str) -> None:
        self._verifier = verifier
        self._subjects = subjects
        self._issuer = issuer

    def claims_of(self, id_token: str) -> dict[str, Any] | None:
        verified = self._verifier.verify_jwt(id_token)
        if verified is None:
            return None
        header, claims = verified
        if header.get("typ") not in (None, "JWT") or claims.get("iss") != self._issuer:
            return None
        if not isinstance(claims.get("sub"), str) or "client_id" in claims:
            return None  # an access token (RFC 9068 carries client_id) is not an ID Token
        return claims

    def subject_of(self, id_token_hint: str, client: Client) -> str | None:
        claims = self.claims_of(id_token_hint)
        if claims is None:
            return None
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        return str(claims["sub"]) if client.client_id in audiences else None

    def subject_for(self, client: Client, user_id: str) -> str:
        return self._subjects.for_client(client, user_id)
