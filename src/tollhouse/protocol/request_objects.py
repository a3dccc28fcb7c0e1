"""RFC 9101 request objects passed by value (``request``), at /par and /authorize.

The object is a JWT the client signed with one of its registered keys
(protocol/client_jws.py). Its claims are the authorization request: RFC 9101 §5 —
"the authorization server MUST only use the parameters in the Request Object", so
every parameter outside it but ``client_id`` is dropped. ``client_id`` inside must be
the one outside (§5); ``iss``, if present, the client; ``aud``, if present, this
server; an expired object, or one not valid yet, is refused; nested ``request`` or
``request_uri`` are refused (§4). Only ``request`` by value is read: the server never
fetches a ``request_uri`` of the client's (nothing to be made to fetch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tollhouse.algorithms import CLIENT_ALGS
from tollhouse.clock import Clock
from tollhouse.errors import InvalidRequestObject
from tollhouse.models import Client
from tollhouse.protocol import client_jws
from tollhouse.protocol.client_jws import ClientKeys
from tollhouse.resource import at_jwt

ACCEPTED_TYP: Final = frozenset({"oauth-authz-req+jwt", "jwt"})
"""RFC 9101 §10.8: ``oauth-authz-req+jwt`` (or none, or the generic ``JWT``)."""
JWT_CLAIMS: Final = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti"})
"""Claims about the object itself, not authorization parameters."""
LEEWAY: Final = 30
MAX_LIFETIME: Final = 3600
"""FAPI 2.0 §5.3.2.1: exp no more than 60 minutes after nbf; held to everywhere."""


def refused(description: str) -> InvalidRequestObject:
    return InvalidRequestObject(f"The request object was refused: {description}")


class RequestObjects:
    def __init__(
        self,
        keys: ClientKeys,
        issuer: str,
        clock: Clock,
        algorithms: tuple[str, ...] = CLIENT_ALGS,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self.algorithms = algorithms

    async def unpack(self, params: Mapping[str, str], client: Client) -> dict[str, str]:
        """The authorization request the ``request`` parameter holds (RFC 9101 §5)."""
        signed = params["request"]
        header, claims = client_jws.split(signed, refused)
        client_jws.check_header(header, self.algorithms, ACCEPTED_TYP, refused)
        await client_jws.check_signature(signed, header, client, self._keys, refused)
        self._check_claims(claims, client)
        unpacked = {
            name: _parameter(name, value)
            for name, value in claims.items()
            if name not in JWT_CLAIMS
        }
        unpacked["client_id"] = client.client_id
        return unpacked

    def _check_claims(self, claims: dict[str, Any], client: Client) -> None:
        if "request" in claims or "request_uri" in claims:
            raise refused("it must not hold request or request_uri (RFC 9101 section 4).")
        if claims.get("client_id", client.client_id) != client.client_id:
            raise refused("its client_id differs from the client_id of the request.")
        if claims.get("iss", client.client_id) != client.client_id:
            raise refused("iss must be the client_id.")
        aud = claims.get("aud")
        if (
            aud is not None
            and aud != self._issuer
            and (type(aud) is not list or self._issuer not in aud)
        ):
            raise refused(f"aud must be the issuer identifier {self._issuer}.")
        now = self._clock.now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if exp is not None and (not at_jwt.is_numeric_date(exp) or exp + LEEWAY <= now):
            raise refused("it has expired (exp).")
        if nbf is not None and (not at_jwt.is_numeric_date(nbf) or nbf > now + LEEWAY):
            raise refused("it is not valid yet (nbf).")
        if exp is not None and exp > now + MAX_LIFETIME + LEEWAY:
            raise refused(f"exp is more than {MAX_LIFETIME} seconds ahead.")


def _parameter(name: str, value: Any) -> str:
    """A claim as the query parameter it stands for: strings as they are, integers
    (``max_age``) as their digits; nothing else is a parameter this server reads."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise refused(f"the claim {name[:40]!r} must be a string.")
