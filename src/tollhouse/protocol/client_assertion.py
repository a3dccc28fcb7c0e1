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
- ``exp`` is required and at most ``max_lifetime`` ahead (item 4); ``nbf`` and
  ``iat``, if present, are not in the future (items 5-6).
- ``jti`` is required and accepted once while the assertion lives (item 7), in a
  store shared by every instance; it is recorded last, so a refused assertion leaves
  nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from tollhouse.algorithms import CLIENT_ALGS
from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import InvalidClient
from tollhouse.models import Client
from tollhouse.protocol import client_jws
from tollhouse.protocol.client_jws import ClientKeys
from tollhouse.protocol.events import NO_EVENTS, AssertionReplayed, Events
from tollhouse.resource import at_jwt
from tollhouse.storage.ports import OneTimeUses

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME: Final = 300
"""Seconds an assertion may live ahead of now by default: a stolen one is useless soon
after (``TOLLHOUSE_CLIENT_ASSERTION_MAX_LIFETIME`` allows up to an hour)."""
LEEWAY: Final = 30
"""Clock skew tolerated between the client and the server."""
MAX_JTI_LENGTH: Final = 256
ACCEPTED_TYP: Final = frozenset({"jwt", "client-authentication+jwt"})
"""No ``typ``, the generic ``JWT``, or the explicit type of draft-ietf-oauth-rfc7523bis;
a JWT typed as something else (an access token, a DPoP proof) is not an assertion."""


@dataclass(frozen=True, slots=True)
class AssertionPolicy:
    issuer: str
    token_endpoint: str
    issuer_only: bool = False
    """The FAPI 2.0 profile: only the issuer identifier is an accepted ``aud``."""
    algorithms: tuple[str, ...] = CLIENT_ALGS
    max_lifetime: int = MAX_LIFETIME
    """Seconds ``exp`` may lie ahead of now; the jti is kept that long."""


def refused(description: str, *, debug: str | None = None) -> InvalidClient:
    return InvalidClient(f"The client assertion was refused: {description}", debug=debug)


def unverified_claims(assertion: str) -> dict[str, Any]:
    """The claims of an assertion, before any check: only to learn which client it
    claims to be (RFC 7523 §3: client_id is optional beside an assertion)."""
    return client_jws.split(assertion, refused)[1]


class AssertionVerifier:
    def __init__(
        self,
        policy: AssertionPolicy,
        keys: ClientKeys,
        uses: OneTimeUses,
        clock: Clock | None = None,
        events: Events = NO_EVENTS,
    ) -> None:
        self.policy = policy
        self._events = events
        self._keys = keys
        self._uses = uses
        self._clock = clock or SystemClock()
        self._audiences = frozenset(
            {policy.issuer} if policy.issuer_only else {policy.issuer, policy.token_endpoint}
        )

    async def verify(self, client: Client, assertion: str) -> None:
        """Raise ``invalid_client`` unless ``assertion`` authenticates ``client``."""
        header, claims = client_jws.split(assertion, refused)
        client_jws.check_header(header, self.policy.algorithms, ACCEPTED_TYP, refused)
        await client_jws.check_signature(assertion, header, client, self._keys, refused)
        now = self._clock.now()
        exp = self._check_claims(client.client_id, claims, now)
        digest = hashlib.sha256(f"{client.client_id}\0{claims['jti']}".encode()).hexdigest()
        if not await self._uses.use_once(f"jti:{digest}", int(exp) + LEEWAY, now):
            self._events.emit(AssertionReplayed(client.client_id))
            raise refused(
                "its jti was used before; sign a new assertion with a new jti for each "
                "request (RFC 7523 section 3).",
                debug="assertion replay",
            )

    def _check_claims(self, client_id: str, claims: dict[str, Any], now: int) -> float:
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise refused("iss and sub must both be the client_id (RFC 7523 section 3).")
        aud = claims.get("aud")
        # FAPI 2.0 §5.3.2.1 (2025): the issuer identifier as a single string.
        single = type(aud) is str or not self.policy.issuer_only
        if not single or not _audience_ok(aud, self._audiences):
            raise refused(f"aud must be the issuer identifier {self.policy.issuer}.")
        exp = claims.get("exp")
        if not at_jwt.is_numeric_date(exp):
            raise refused("exp is required and must be a number.")
        if exp + LEEWAY <= now:
            raise refused("it has expired (exp).")
        if exp > now + self.policy.max_lifetime + LEEWAY:
            raise refused(f"exp is more than {self.policy.max_lifetime} seconds ahead.")
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
