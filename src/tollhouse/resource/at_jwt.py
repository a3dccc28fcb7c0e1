"""RFC 9068 JWT access tokens: the JOSE header and claims rules, free of I/O and keys."""

from __future__ import annotations

import json
import math
from collections.abc import Set
from typing import Any, Final

import orjson

from tollhouse.resource.cache import Verified
from tollhouse.resource.errors import invalid_token
from tollhouse.resource.jwk import b64decode

ACCEPTED_TYP: Final = frozenset({"at+jwt", "application/at+jwt"})
"""RFC 9068 §4: "verify that the typ header value is at+jwt or application/at+jwt"."""
REQUIRED_STRINGS: Final = ("sub", "client_id", "jti")
"""RFC 9068 §2.2 REQUIRED claims besides iss, aud, exp and iat."""


def parse_header(segment: str, algorithms: Set[str]) -> tuple[str, str]:
    """``(alg, kid)`` of a JOSE header segment, or :class:`TokenError` ``invalid_token``."""
    try:
        header = json.loads(b64decode(segment), object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):
        raise invalid_token("The token header is not valid base64url JSON.") from None
    if type(header) is not dict:
        raise invalid_token("The token header is not a JSON object.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:  # never "none" or HS*
        raise invalid_token(f"The token algorithm {str(alg)[:16]} is not accepted.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
        raise invalid_token("The token typ is not at+jwt (RFC 9068).")
    # RFC 7515 §4.1.11: extensions listed in crit that are not understood MUST be
    # rejected; this validator understands none. jku, x5u, jwk and x5c are ignored:
    # keys come only from the issuer's JWKS.
    if "crit" in header:
        raise invalid_token("The token header lists critical extensions (crit).")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise invalid_token("The token header has no kid.")
    return alg, kid


def loads(raw: bytes) -> Any:
    """The JSON value of a decoded payload segment (RFC 7519 §7.2 step 10), with orjson.

    About five times faster than ``json.loads`` on a token's claims, and stricter (RFC
    8259): valid UTF-8 only, no ``NaN`` or ``Infinity``, nesting at most 1,024 deep.
    A duplicate member keeps its last value, as RFC 7519 §4 allows. Raises ``ValueError``.
    """
    return orjson.loads(raw)


def check_claims(
    claims: Any, issuer: str, audiences: Set[str], now: int, leeway: int, kid: str
) -> Verified:
    """RFC 9068 §4 steps 3-7 (iss, aud, exp, plus nbf and iat with ``leeway``)."""
    if type(claims) is not dict:
        raise invalid_token("The token payload is not a JSON object.")
    if claims.get("iss") != issuer:
        raise invalid_token("The token was issued by another issuer.")
    aud = claims.get("aud")
    if type(aud) is str:
        audience_ok = aud in audiences
    elif type(aud) is list:
        audience_ok = any(type(a) is str and a in audiences for a in aud)
    else:
        audience_ok = False
    if not audience_ok:
        raise invalid_token("The token is meant for another audience.")
    exp: Any = claims.get("exp")
    iat: Any = claims.get("iat")
    nbf: Any = claims.get("nbf", 0)
    if not (_numeric(exp) and _numeric(iat) and _numeric(nbf)):
        raise invalid_token("The token's exp, iat or nbf is missing or not a number.")
    if now >= exp + leeway:
        raise invalid_token("The access token expired.")
    if nbf > now + leeway:
        raise invalid_token("The access token is not valid yet (nbf).")
    if iat > now + leeway:
        raise invalid_token("The access token was issued in the future (iat).")
    for name in REQUIRED_STRINGS:
        value = claims.get(name)
        if type(value) is not str or not value:
            raise invalid_token(f"The token has no valid {name} claim.")
    scope = claims.get("scope", "")
    if type(scope) is not str:
        raise invalid_token("The token scope claim is not a string.")
    return Verified(claims, exp, kid, claims["jti"], frozenset(scope.split()))


def _numeric(value: Any) -> bool:
    """RFC 7519 §2 NumericDate: a JSON number (finite; booleans are not numbers)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 7515 §5.2: a header with duplicate member names is rejected."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member in the JOSE header")
    return result
