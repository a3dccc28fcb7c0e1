"""A client's public keys (RFC 7591 §2 ``jwks`` / ``jwks_uri``), which verify its
assertions (RFC 7523) and request objects (RFC 9101).

Keys are parsed by the resource library's strict JWK code (``resource/jwk.py``: points
on the curve, no small-order Ed25519 points, RSA moduli of 2048 bits or more, canonical
base64url), with RSASSA-PSS added to the server's own algorithms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from tollhouse.algorithms import CLIENT_ALGS
from tollhouse.resource.jwk import UnusableKey, VerifyKey, parse_jwk

MAX_KEYS: Final = 16
"""Keys one client may publish: enough for a rotation of each algorithm."""
MAX_KID_LENGTH: Final = 256
PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""RFC 7518 §6.2.2, §6.3.2, §6.4: members only a private or symmetric key has."""


class KeySetError(ValueError):
    """Why a JWK Set cannot be a client's keys; the text is fit for an error response."""


def parse_key_set(document: Any, *, strict: bool) -> tuple[VerifyKey, ...]:
    """Every signing key of a JWK Set (RFC 7517 §5), one per (kid, alg).

    ``strict`` (registration): a key that cannot be used, or a kid given twice, is an
    error. Otherwise (a set fetched from ``jwks_uri``) such keys are skipped. A key
    with a private member is an error either way: whoever published it leaked it.
    Keys for encryption (``use: enc``) are skipped; a key without a kid can still be
    chosen as the only key of its algorithm.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError("a JWK Set must be a JSON object with a keys array (RFC 7517 §5)")
    entries: list[Any] = document["keys"]
    if len(entries) > MAX_KEYS:
        raise KeySetError(f"a client may register at most {MAX_KEYS} keys")
    found: list[VerifyKey] = []
    for index, jwk in enumerate(entries):
        try:
            found.extend(_signing_keys(jwk, index))
        except UnusableKey as exc:
            if strict:
                raise KeySetError(f"key {index}: {exc}") from None
    if strict:
        _check_unique(jwk for jwk in entries if isinstance(jwk, dict))
    if not found:
        raise KeySetError("the JWK Set has no usable signing key (" + ", ".join(CLIENT_ALGS) + ")")
    return tuple(found)


def parse_key_set_text(text: str, *, strict: bool) -> tuple[VerifyKey, ...]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise KeySetError("the JWK Set is not valid JSON") from None
    return parse_key_set(document, strict=strict)


def _signing_keys(jwk: Any, index: int) -> list[VerifyKey]:
    if not isinstance(jwk, dict):
        raise UnusableKey("not a JSON object")
    private = [member for member in PRIVATE_MEMBERS if member in jwk]
    if private:
        raise KeySetError(
            f"key {index} holds private key members ({', '.join(private)}): "
            "register only the public key"
        )
    if jwk.get("use") == "enc":
        return []
    kid = jwk.get("kid")
    if kid is None:
        jwk = {**jwk, "kid": f"#{index}"}
    elif not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise UnusableKey("kid must be a non-empty string")
    if jwk.get("kty") == "RSA" and "alg" not in jwk:
        # RFC 7517 §4.4: alg is optional; an RSA key may then sign with either.
        return [parse_jwk(jwk, CLIENT_ALGS, alg) for alg in ("PS256", "RS256")]
    return [parse_jwk(jwk, CLIENT_ALGS)]


def _check_unique(entries: Iterable[dict[str, Any]]) -> None:
    kids = [jwk["kid"] for jwk in entries if "kid" in jwk]
    if len(kids) != len(set(kids)):
        raise KeySetError("two keys share a kid; each kid must name one key")


class KeyChoice:
    """The outcome of looking for the key an assertion's header names."""

    FOUND = "found"
    UNKNOWN_KID = "unknown_kid"
    WRONG_ALG = "wrong_alg"
    AMBIGUOUS = "ambiguous"


def choose_key(
    keys: Iterable[VerifyKey], kid: str | None, alg: str
) -> tuple[str, VerifyKey | None]:
    """The key for ``(kid, alg)``; without a kid, the only key usable for ``alg``
    (OIDC Core §10.1: a kid is needed only when there is more than one)."""
    keys = tuple(keys)
    if kid is not None:
        named = [key for key in keys if key.kid == kid]
        if not named:
            return KeyChoice.UNKNOWN_KID, None
        fitting = [key for key in named if key.alg == alg]
        return (KeyChoice.FOUND, fitting[0]) if fitting else (KeyChoice.WRONG_ALG, None)
    fitting = [key for key in keys if key.alg == alg]
    if len(fitting) == 1:
        return KeyChoice.FOUND, fitting[0]
    return (KeyChoice.AMBIGUOUS if fitting else KeyChoice.WRONG_ALG), None
