"""RFC 9068 §4: the rules a JWT access token must pass, each one named, free of I/O.

This is the one statement of those rules. :class:`.validator.AccessTokenVerifier`
applies them in the order of :class:`Rule`, for the resource library and for the
identity provider's introspection, revocation and userinfo endpoints; ``tollhouse
token inspect`` runs them one at a time to explain each verdict. A rule that refuses a
token raises :class:`TokenError` ``invalid_token`` whose ``check`` is the rule's name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Set
from enum import StrEnum
from typing import Any, Final, TypeGuard

import orjson

from tollhouse.resource.cache import Verified
from tollhouse.resource.errors import TokenError, invalid_token
from tollhouse.resource.jwk import VerifyKey, b64decode

DEFAULT_LEEWAY: Final = 30
"""Seconds of clock skew tolerated on exp, nbf and iat (RFC 7519 §4.1.4 "some small
leeway ... to account for clock skew")."""
MAX_TOKEN_BYTES: Final = 8 * 1024
"""The longest token accepted: far above what Tollhouse issues, a bound on the work an
attacker can ask for."""
ACCEPTED_TYP: Final = frozenset({"at+jwt", "application/at+jwt"})
"""RFC 9068 §4: "verify that the typ header value is at+jwt or application/at+jwt"."""
REQUIRED_STRINGS: Final = ("sub", "client_id", "jti")
"""RFC 9068 §2.2 REQUIRED claims besides iss, aud, exp and iat."""


class Rule(StrEnum):
    """The validation rules, in the order they are applied."""

    FORMAT = "format"
    ALG = "alg"
    TYP = "typ"
    CRIT = "crit"
    KID = "kid"
    SIGNATURE = "signature"
    ISS = "iss"
    AUD = "aud"
    EXP = "exp"
    NBF = "nbf"
    IAT = "iat"
    CLAIMS = "claims"
    REVOKED = "revoked"


def refused(rule: Rule, description: str) -> TokenError:
    return invalid_token(description, rule.value)


# The JOSE header (RFC 7515 §4) ------------------------------------------------------


def header_of(segment: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS: a JSON object (RFC 7515 §7.1 steps 2-3)."""
    try:
        header = json.loads(b64decode(segment), object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):
        raise refused(Rule.FORMAT, "The token header is not valid base64url JSON.") from None
    if type(header) is not dict:
        raise refused(Rule.FORMAT, "The token header is not a JSON object.")
    return header


def check_alg(header: dict[str, Any], algorithms: Set[str]) -> str:
    """RFC 8725 §3.1: the algorithm must be one accepted here; never "none" or HS*."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise refused(Rule.ALG, f"The token algorithm {str(alg)[:16]} is not accepted.")
    return alg


def check_typ(header: dict[str, Any]) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
        raise refused(Rule.TYP, "The token typ is not at+jwt (RFC 9068).")


def check_crit(header: dict[str, Any]) -> None:
    """RFC 7515 §4.1.11: extensions listed in crit that are not understood MUST be
    rejected; none is understood here. RFC 7797's ``b64`` (an unencoded payload) is
    such an extension, refused with or without ``crit``: a header that changes what
    the signature covers is never read as if it did not. jku, x5u, jwk and x5c are
    ignored: keys come only from the key source (the issuer's JWKS)."""
    if "crit" in header:
        raise refused(Rule.CRIT, "The token header lists critical extensions (crit).")
    if "b64" in header:
        raise refused(Rule.CRIT, "The token header uses the b64 extension (RFC 7797).")


def check_kid(header: dict[str, Any]) -> str:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise refused(Rule.KID, "The token header has no kid.")
    return kid


def parse_header(segment: str, algorithms: Set[str]) -> tuple[str, str]:
    """``(alg, kid)`` of a JOSE header segment that passes every header rule."""
    header = header_of(segment)
    alg = check_alg(header, algorithms)
    check_typ(header)
    check_crit(header)
    return alg, check_kid(header)


def check_key(key: VerifyKey | None, alg: str) -> VerifyKey:
    """The key the header names must exist, and be a key for the header's ``alg``."""
    if key is None:
        raise refused(Rule.KID, "The token was signed with an unknown key (kid).")
    if key.alg != alg:
        raise refused(Rule.ALG, "The token algorithm does not match its key.")
    return key


def check_signature(token: str, last: int, key: VerifyKey) -> None:
    """RFC 7515 §5.2 step 8 over ``token[:last]``; ``last`` is the second dot."""
    try:
        signature = b64decode(token[last + 1 :])
        signing_input = token[:last].encode("ascii")
    except ValueError:
        raise refused(Rule.SIGNATURE, "The token signature is not valid base64url.") from None
    if not key.verify(signature, signing_input):
        raise refused(Rule.SIGNATURE, "The token signature is invalid.")


# The claims (RFC 9068 §2.2, §4 steps 3-7) --------------------------------------------


def loads(raw: bytes) -> Any:
    """The JSON value of a decoded payload segment (RFC 7519 §7.2 step 10), with orjson.

    Faster than ``json.loads`` on a token's claims, and stricter (RFC 8259): valid
    UTF-8 only, no ``NaN`` or ``Infinity``, nesting at most 1,024 deep. A duplicate
    member keeps its last value, as RFC 7519 §4 allows. Raises ``ValueError``.
    """
    return orjson.loads(raw)


def payload_of(segment: str) -> dict[str, Any]:
    """The claims of a payload segment: a JSON object."""
    try:
        claims = loads(b64decode(segment))
    except ValueError:
        raise refused(Rule.FORMAT, "The token payload is not valid base64url JSON.") from None
    if type(claims) is not dict:
        raise refused(Rule.FORMAT, "The token payload is not a JSON object.")
    return claims


def check_iss(claims: dict[str, Any], issuer: str) -> None:
    if claims.get("iss") != issuer:
        raise refused(Rule.ISS, "The token was issued by another issuer.")


def check_aud(claims: dict[str, Any], audiences: Set[str] | None) -> None:
    """One of ``aud`` must be one of ``audiences``; ``None`` (the issuer's own view,
    where each endpoint decides whose tokens a caller may see) only asks for a
    well-formed ``aud``."""
    aud = claims.get("aud")
    if type(aud) is str:
        accepted = aud in audiences if audiences is not None else bool(aud)
    elif type(aud) is list:
        if audiences is None:
            accepted = bool(aud) and all(type(a) is str and a for a in aud)
        else:
            accepted = any(type(a) is str and a in audiences for a in aud)
    else:
        accepted = False
    if not accepted:
        raise refused(Rule.AUD, "The token is meant for another audience.")


_NOT_A_TIME: Final = "The token's exp, iat or nbf is missing or not a number."


def check_exp(claims: dict[str, Any], now: int, leeway: int) -> float:
    """RFC 9068 §4: "The current time MUST be before the time represented by the exp
    claim" (give or take ``leeway``)."""
    exp = claims.get("exp")
    if not is_numeric_date(exp):
        raise refused(Rule.EXP, _NOT_A_TIME)
    if now >= exp + leeway:
        raise refused(Rule.EXP, "The access token expired.")
    return exp


def check_nbf(claims: dict[str, Any], now: int, leeway: int) -> None:
    nbf: Any = claims.get("nbf", 0)
    if not is_numeric_date(nbf):
        raise refused(Rule.NBF, _NOT_A_TIME)
    if nbf > now + leeway:
        raise refused(Rule.NBF, "The access token is not valid yet (nbf).")


def check_iat(claims: dict[str, Any], now: int, leeway: int) -> None:
    iat: Any = claims.get("iat")
    if not is_numeric_date(iat):
        raise refused(Rule.IAT, _NOT_A_TIME)
    if iat > now + leeway:
        raise refused(Rule.IAT, "The access token was issued in the future (iat).")


def check_required(claims: dict[str, Any]) -> tuple[str, frozenset[str]]:
    """The ``jti`` and the scopes, once sub, client_id and jti are non-empty strings
    and ``scope`` (if any) is a string (RFC 9068 §2.2, §2.2.3)."""
    for name in REQUIRED_STRINGS:
        value = claims.get(name)
        if type(value) is not str or not value:
            raise refused(Rule.CLAIMS, f"The token has no valid {name} claim.")
    scope = claims.get("scope", "")
    if type(scope) is not str:
        raise refused(Rule.CLAIMS, "The token scope claim is not a string.")
    return claims["jti"], scope_set(scope)


def scope_set(scope: str) -> frozenset[str]:
    """RFC 6749 §3.3: scope tokens are "delimited by ... space (%x20)", nothing else; a
    tab or a no-break space is part of a token (which then matches no scope)."""
    scopes = frozenset(scope.split(" "))
    return scopes - {""} if "" in scopes else scopes


def scope_tokens(scope: str) -> tuple[str, ...]:
    """:func:`scope_set` in the order written (required scopes, named back in errors)."""
    return tuple(token for token in scope.split(" ") if token)


def check_claims(
    claims: dict[str, Any],
    issuer: str,
    audiences: Set[str] | None,
    now: int,
    leeway: int,
    kid: str,
) -> Verified:
    """Every claims rule, in :class:`Rule` order."""
    check_iss(claims, issuer)
    check_aud(claims, audiences)
    exp = check_exp(claims, now, leeway)
    check_nbf(claims, now, leeway)
    check_iat(claims, now, leeway)
    jti, scopes = check_required(claims)
    return Verified(claims, exp, kid, jti, scopes)


def is_numeric_date(value: Any) -> TypeGuard[float]:
    """RFC 7519 §2 NumericDate: a JSON number (finite; booleans are not numbers)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 7515 §5.2: a header with duplicate member names is rejected."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member in the JOSE header")
    return result
