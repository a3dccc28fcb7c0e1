"""RFC 7523 §2.2 / §3 client assertions: ``private_key_jwt`` (OIDC Core §9).

The client signs a JWT with a key from its registered ``jwks`` or ``jwks_uri``;
:class:`AssertionVerifier` accepts it once. The JOSE parts (strict base64url, JSON,
``crit``, signature) are the resource library's (``resource/at_jwt.py``,
``resource/jwk.py``); the rules of RFC 7523 §3 are here:

- ``iss`` and ``sub`` are the client_id (items 1-2).
- ``aud`` is this server's issuer identifier. The token endpoint URL is accepted too,
  as RFC 7523 §3 item 3 allows, except under the FAPI 2.0 profile; no other endpoint
  URL is: an assertion made for one endpoint of another server cannot be replayed
  here (CVE-2025-27370 / 27371, audience injection).
- ``exp`` is required and at most :data:`MAX_LIFETIME` ahead (item 4); ``nbf`` and
  ``iat``, if present, are not in the future (items 5-6).
- ``jti`` is required and accepted once while the assertion lives (item 7), in a
  store shared by every instance; it is recorded last, so a refused assertion leaves
  nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tollhouse.algorithms import CLIENT_ALGS
from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import InvalidClient
from tollhouse.models import Client
from tollhouse.protocol.client_keys import KeyChoice, choose_key
from tollhouse.resource import at_jwt
from tollhouse.resource.errors import TokenError
from tollhouse.resource.jwk import VerifyKey
from tollhouse.storage.ports import OneTimeUses

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES: Final = 8 * 1024
MAX_LIFETIME: Final = 300
"""Seconds an assertion may live ahead of now: a stolen one is useless soon after."""
LEEWAY: Final = 30
"""Clock skew tolerated between the client and the server."""
MAX_JTI_LENGTH: Final = 256
ACCEPTED_TYP: Final = frozenset({"jwt", "client-authentication+jwt"})
"""No ``typ``, the generic ``JWT``, or the explicit type of draft-ietf-oauth-rfc7523bis;
a JWT typed as something else (an access token, a DPoP proof) is not an assertion."""


class ClientKeys(Protocol):
    async def keys_of(self, client: Client, *, refresh: bool = False) -> tuple[VerifyKey, ...]:
        """The client's keys. ``refresh``: a kid was not found, so fetch the client's
        ``jwks_uri`` again if it was not fetched very recently. Raises
        :class:`~tollhouse.errors.InvalidClient` if the client has no usable keys."""


@dataclass(frozen=True, slots=True)
class AssertionPolicy:
    issuer: str
    token_endpoint: str
    issuer_only: bool = False
    """The FAPI 2.0 profile: only the issuer identifier is an accepted ``aud``."""
    algorithms: tuple[str, ...] = CLIENT_ALGS


def refused(description: str, debug: str | None = None) -> InvalidClient:
    return InvalidClient(f"The client assertion was refused: {description}", debug=debug)


def unverified_claims(assertion: str) -> dict[str, Any]:
    """The claims of an assertion, before any check: only to learn which client it
    claims to be (RFC 7523 §3: client_id is optional beside an assertion)."""
    parts = assertion.split(".")
    if len(assertion) > MAX_ASSERTION_BYTES or len(parts) != 3:
        raise refused("it is not a compact JWS (RFC 7515 §7.1).")
    try:
        return at_jwt.payload_of(parts[1])
    except TokenError:
        raise refused("its payload is not base64url JSON.") from None


class AssertionVerifier:
    def __init__(
        self,
        policy: AssertionPolicy,
        keys: ClientKeys,
        uses: OneTimeUses,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy
        self._keys = keys
        self._uses = uses
        self._clock = clock or SystemClock()
        self._audiences = frozenset(
            {policy.issuer} if policy.issuer_only else {policy.issuer, policy.token_endpoint}
        )

    async def verify(self, client: Client, assertion: str) -> None:
        """Raise ``invalid_client`` unless ``assertion`` authenticates ``client``."""
        claims = unverified_claims(assertion)
        head, _, _ = assertion.partition(".")
        header = self._header(head)
        alg: str = header["alg"]
        key = await self._key(client, header.get("kid"), alg)
        try:
            at_jwt.check_signature(assertion, assertion.rindex("."), key)
        except TokenError:
            raise refused("its signature does not verify with the client's key.") from None
        now = self._clock.now()
        exp = self._check_claims(client.client_id, claims, now)
        digest = hashlib.sha256(f"{client.client_id}\0{claims['jti']}".encode()).hexdigest()
        if not await self._uses.use_once(f"jti:{digest}", int(exp) + LEEWAY, now):
            raise refused(
                "its jti was used before; sign a new assertion with a new jti for each "
                "request (RFC 7523 section 3).",
                debug="assertion replay",
            )

    def _header(self, segment: str) -> dict[str, Any]:
        try:
            header = at_jwt.header_of(segment)
            at_jwt.check_crit(header)
        except TokenError as error:
            raise refused(error.description) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.policy.algorithms:
            allowed = ", ".join(self.policy.algorithms)
            raise refused(f"alg {str(alg)[:16]!r} is not accepted; use one of {allowed}.")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP):
            raise refused(f"typ {str(typ)[:32]!r} is not a client assertion's.")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise refused("kid must be a non-empty string.")
        return header

    async def _key(self, client: Client, kid: str | None, alg: str) -> VerifyKey:
        choice, key = choose_key(await self._keys.keys_of(client), kid, alg)
        if choice == KeyChoice.UNKNOWN_KID:
            # The client may have rotated: its jwks_uri is read again (rate limited).
            choice, key = choose_key(await self._keys.keys_of(client, refresh=True), kid, alg)
        if key is not None:
            return key
        if choice == KeyChoice.UNKNOWN_KID:
            raise refused(f"no key with kid {str(kid)[:64]!r} is registered for this client.")
        if choice == KeyChoice.AMBIGUOUS:
            raise refused(f"the client has several {alg} keys; name one with kid.")
        raise refused(f"no registered key of this client is for alg {alg}.")

    def _check_claims(self, client_id: str, claims: dict[str, Any], now: int) -> float:
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise refused("iss and sub must both be the client_id (RFC 7523 section 3).")
        if not _audience_ok(claims.get("aud"), self._audiences):
            raise refused(f"aud must be the issuer identifier {self.policy.issuer}.")
        exp = claims.get("exp")
        if not at_jwt.is_numeric_date(exp):
            raise refused("exp is required and must be a number.")
        if exp + LEEWAY <= now:
            raise refused("it has expired (exp).")
        if exp > now + MAX_LIFETIME + LEEWAY:
            raise refused(f"exp is more than {MAX_LIFETIME} seconds ahead.")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not at_jwt.is_numeric_date(value) or value > now + LEEWAY:
                raise refused(f"{name} must be a number, not in the future.")
        jti = claims.get("jti")
        if type(jti) is not str or not jti or len(jti) > MAX_JTI_LENGTH:
            raise refused("jti is required: a unique string for each assertion.")
        return exp


def _audience_ok(aud: Any, accepted: frozenset[str]) -> bool:
    """RFC 7523 §3 item 3: ``aud`` names this server: a string, or an array holding one
    of the accepted values. Every member must be a string."""
    values: Iterable[Any] = [aud] if type(aud) is str else aud if type(aud) is list else ()
    values = list(values)
    return (
        bool(values) and all(type(v) is str for v in values) and any(v in accepted for v in values)
    )
