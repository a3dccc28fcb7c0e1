"""The keys DPoP proofs are signed with: RFC 9449 §4.3 steps 4-7 on a proof's JOSE
header, and the checked headers remembered per proof checker (bounded LRU).

A client signs every proof with one key and sends the same header with it (``typ``,
``alg``, ``jwk``), byte for byte. Importing the embedded JWK into OpenSSL and the first
verification with a new key object cost about as much again as the verification
itself, so a header whose signature verified once is kept with its parsed key and
thumbprint, keyed by its exact base64url segment. What is kept is what the checks
derived from those very bytes, so a hit skips no check; the signature of each proof is
still verified, with the key its own header carries.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from tollhouse.errors import InvalidDpopProof
from tollhouse.resource.cache import Lru
from tollhouse.resource.jwk import UnusableKey, VerifyKey, b64decode, proof_key

PROOF_TYP: Final = "dpop+jwt"
DEFAULT_SIZE: Final = 1024
"""Headers remembered per checker: one per client key in use at a time."""
MAX_CACHED_HEADER: Final = 2048
"""A longer header segment is checked every time, never kept: the header of an
RSA-8192 key fits, and the cache stays a few MiB at most."""
_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


@dataclass(frozen=True, slots=True)
class CheckedHeader:
    """A checked proof header: its ``alg``, its public key, and the key's thumbprint."""

    alg: str
    key: VerifyKey
    jkt: str


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    kty = jwk.get("kty")
    names = _THUMBPRINT_MEMBERS.get(str(kty), ("crv", "kty", "x"))
    members = {name: jwk.get(name) for name in names}
    if not all(isinstance(value, str) for value in members.values()):
        raise InvalidDpopProof(debug="JWK lacks a thumbprint member")
    digest = hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).digest()
    return b64(digest)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_segment(segment: str, what: str) -> dict[str, Any]:
    """A proof segment's JSON object; ``what`` names the segment in the refusal."""
    try:
        value = orjson.loads(b64decode(segment))
    except (ValueError, UnicodeError):
        raise InvalidDpopProof(f"The DPoP proof's {what} is not base64url JSON.") from None
    if not isinstance(value, dict):
        raise InvalidDpopProof(f"The DPoP proof's {what} is not a JSON object.")
    return value


def checked_header(segment: str, algs: Sequence[str]) -> CheckedHeader:
    """§4.3 steps 4-6: ``typ``, no ``crit``, an allowed ``alg`` and a public JWK for it."""
    header = json_segment(segment, "header")
    if header.get("typ") != PROOF_TYP:
        raise InvalidDpopProof("The DPoP proof's typ must be dpop+jwt.")
    if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood here
        raise InvalidDpopProof("The DPoP proof's header has crit extensions.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algs:
        raise InvalidDpopProof("The DPoP proof's alg is not supported.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("The DPoP proof's header lacks a jwk.")
    try:
        key = proof_key(jwk, alg)
    except UnusableKey as error:
        raise InvalidDpopProof(f"The DPoP proof's jwk is unusable: {error}") from None
    return CheckedHeader(alg, key, thumbprint(jwk))


class ProofKeyCache:
    """Checked headers of proofs whose signature verified, by their exact segment: at
    most ``size``, the least recently used goes first. Safe to share between threads
    (a lost race costs one more parse of a header, no more)."""

    def __init__(self, algs: Sequence[str], size: int = DEFAULT_SIZE) -> None:
        self._algs = tuple(algs)
        self._keys: Lru[str, CheckedHeader] = Lru(size)

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, segment: str) -> CheckedHeader | None:
        """The key of a header already seen with a good signature, else None."""
        return self._keys.get(segment)

    def check(self, segment: str) -> CheckedHeader:
        """The key of a header not seen before, after every check of the header."""
        return checked_header(segment, self._algs)

    def remember(self, segment: str, key: CheckedHeader) -> None:
        """Only once the proof's signature verified with ``key``: proofs that do not
        verify cannot push the headers of real clients out."""
        if len(segment) > MAX_CACHED_HEADER:
            return
        self._keys.put(segment, key)
