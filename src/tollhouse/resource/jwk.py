"""RFC 7517 public keys parsed once into ``cryptography`` objects that verify RFC 7515 JWS.

The three algorithms Tollhouse signs with are known: ES256 (RFC 7518 §3.4), RS256
(RFC 7518 §3.3) and EdDSA over Ed25519 (RFC 8037 §3.1); and PS256 (RFC 7518 §3.5),
which clients may sign their assertions and request objects with, accepted only where
a caller asks for it. Verification calls
``cryptography`` directly with objects built here once per key, so a validation costs
one signature check and no parsing of the key.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

import pybase64
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tollhouse.algorithms import SIGNING_ALGS

SUPPORTED_ALGS: Final = SIGNING_ALGS
"""The algorithms verified here: the one list of :mod:`tollhouse.algorithms`."""
MIN_RSA_BITS: Final = 2048

_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())
_PKCS1V15: Final = padding.PKCS1v15()
_SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")
"""RFC 8017 §9.2 note 1: the DER DigestInfo prefix for SHA-256; the 32-octet hash follows."""
_INFERRED_ALG: Final[dict[tuple[object, object], str]] = {
    ("EC", "P-256"): "ES256",
    ("RSA", None): "RS256",
    ("OKP", "Ed25519"): "EdDSA",
}


class UnusableKey(ValueError):
    """A JWK that cannot be used for verification here."""


Verifier = Callable[[bytes, bytes], bool]
"""``verify(signature, signing_input) -> bool``: never raises on a bad signature."""


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str
    alg: str
    verify: Verifier
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def parse_jwk(
    jwk: dict[str, Any], algs: Collection[str] = SUPPORTED_ALGS, alg: str | None = None
) -> VerifyKey:
    """A verification key from one JWK; raises :class:`UnusableKey` if it is unusable.

    The key's ``alg`` must be one of ``algs`` (:data:`SUPPORTED_ALGS` unless a caller
    also accepts PS256, RFC 7518 §3.5, as client authentication does); a JWK without
    ``alg`` gets ``alg`` if given, else the one its type implies (EC P-256 → ES256, RSA
    → RS256, OKP Ed25519 → EdDSA). Keys whose ``use`` is not ``sig`` or whose
    ``key_ops`` lack ``verify`` are refused.
    """
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UnusableKey("JWK without a kid")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey(f"JWK {kid} is not for signatures")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise UnusableKey(f"JWK {kid} may not verify")
    alg = jwk.get("alg") or alg or _INFERRED_ALG.get((kty, None if kty == "RSA" else crv))
    if alg not in algs:
        raise UnusableKey(f"JWK {kid} has unsupported alg {alg!r}")
    if "d" in jwk or "p" in jwk:
        raise UnusableKey(f"JWK {kid} is a private key; refusing to use it")
    try:
        if alg == "ES256" and kty == "EC" and crv == "P-256":
            return _es256(kid, jwk)
        if alg == "RS256" and kty == "RSA":
            return _rs256(kid, jwk)
        if alg == "PS256" and kty == "RSA":
            return _ps256(kid, jwk)
        if alg == "EdDSA" and kty == "OKP" and crv == "Ed25519":
            return _eddsa(kid, jwk)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise UnusableKey(f"JWK {kid} is malformed: {exc}") from None
    raise UnusableKey(f"JWK {kid}: kty {kty!r} / crv {crv!r} do not fit alg {alg}")


_strict_b64decode: Final = pybase64.b64decode
_URLSAFE: Final = bytes.maketrans(b"-_+/=", b"+/***")
"""base64url → base64; "+", "/" and "=" become "*" so that strict decoding refuses them."""


_PADDING: Final = (b"", b"===", b"==", b"=")
"""What a segment of each length (mod 4) lacks; "===" makes a length no encoding has fail."""
_CANONICAL_LAST: Final = (b"", b"", b"AQgw", b"AEIMQUYcgkosw048")
"""The characters that may end a segment of each length (mod 4): those whose unused low
bits are zero (4 unused bits after 2 characters, 2 after 3; RFC 4648 §3.5)."""


def b64decode(segment: str) -> bytes:
    """RFC 7515 §2 base64url without padding, canonically: any other character, a
    length no encoding has, or a last character with unused bits set raises
    ``ValueError`` (``UnicodeEncodeError`` for non-ASCII text). Every byte string has
    exactly one accepted spelling. This is the one decoder of JOSE segments and JWK
    members, in the resource library and in the identity provider's key ring.

    ``pybase64`` decodes with SIMD, faster than ``binascii`` (two decodes in every
    token validation; bench/RESULTS.md). Given the standard alphabet and
    ``validate=True`` it refuses what ``binascii``'s strict mode refuses here, the "*"
    that "+", "/" and "=" became included; like it, it ignores unused bits, which one
    look at the last character settles.
    """
    data = segment.encode("ascii").translate(_URLSAFE)
    rest = len(data) & 3
    if rest > 1 and data[-1:] not in _CANONICAL_LAST[rest]:
        raise ValueError("base64url with unused bits set in its last character")
    return _strict_b64decode(data + _PADDING[rest], validate=True)


def _member(jwk: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing or invalid {name!r}")
    raw = b64decode(value)
    if size is not None and len(raw) != size:
        raise ValueError(f"{name!r} must be {size} bytes")
    return raw


PROOF_ALGS: Final = ("ES256", "EdDSA", "RS256", "PS256")
"""Algorithms of keys clients sign with (RFC 9449 DPoP proofs): asymmetric only."""
_PRIVATE_MEMBERS: Final = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))
_PROOF_KTY: Final = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}


def proof_key(jwk: dict[str, Any], alg: str) -> VerifyKey:
    """A client's public key for ``alg`` (one of :data:`PROOF_ALGS`), as embedded in a
    DPoP proof (RFC 9449 §4.2: "MUST NOT contain a private key"). Raises
    :class:`UnusableKey`; small-order Ed25519 points and short RSA moduli included."""
    if alg not in PROOF_ALGS:
        raise UnusableKey(f"alg {alg!r} is not allowed")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise UnusableKey("the JWK holds private key members")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    wanted = _PROOF_KTY.get(alg, ("RSA", None))
    if (kty, crv if kty != "RSA" else None) != wanted:
        raise UnusableKey(f"kty {kty!r} / crv {crv!r} do not fit alg {alg}")
    try:
        if alg == "ES256":
            return _es256("", jwk)
        if alg == "EdDSA":
            return _eddsa("", jwk)
        if alg == "PS256":
            return _ps256("", jwk)
        return _rs256("", jwk)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise UnusableKey(f"the JWK is malformed: {exc}") from None


def _es256(kid: str, jwk: dict[str, Any]) -> VerifyKey:
    x = int.from_bytes(_member(jwk, "x", 32))
    y = int.from_bytes(_member(jwk, "y", 32))
    # Raises ValueError unless the point is on the curve (invalid-curve attacks).
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    verify_der = key.verify
    from_bytes = int.from_bytes

    def verify(signature: bytes, signing_input: bytes) -> bool:
        # RFC 7518 §3.4: the JWS signature is R || S, 32 octets each.
        if len(signature) != 64:
            return False
        der = encode_dss_signature(from_bytes(signature[:32]), from_bytes(signature[32:]))
        try:
            verify_der(der, signing_input, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True

    return VerifyKey(kid, "ES256", verify, key)


def _rsa_public(jwk: dict[str, Any]) -> tuple[rsa.RSAPublicKey, int]:
    """The RSA public key of ``jwk`` (RFC 7518 §6.3.1) and its signatures' length."""
    n = int.from_bytes(_member(jwk, "n"))
    e = int.from_bytes(_member(jwk, "e"))
    if n.bit_length() < MIN_RSA_BITS:
        raise ValueError(f"RSA modulus shorter than {MIN_RSA_BITS} bits")
    return rsa.RSAPublicNumbers(e, n).public_key(), (n.bit_length() + 7) // 8


def _rs256(kid: str, jwk: dict[str, Any]) -> VerifyKey:
    key, size = _rsa_public(jwk)
    recover = key.recover_data_from_signature
    sha256, equal = hashlib.sha256, hmac.compare_digest

    def verify(signature: bytes, signing_input: bytes) -> bool:
        """RSASSA-PKCS1-v1_5 verification in its "encode and compare" form.

        RFC 8017 §8.2.2: the signature must be as long as the modulus (step 1); RSAVP1
        and the type-1 padding check (00 01 FF.. 00, at least eight FF) run in OpenSSL
        (step 2); what follows the padding must then equal, octet for octet and in
        constant time, the DigestInfo of SHA-256 and the hash of the signing input
        (steps 3-4). Nothing is parsed, so no ASN.1 leniency can let a forged
        signature through (Bleichenbacher 2006), and as the length of that tail is
        fixed the whole encoded message is compared. The same check as
        ``verify(..., PKCS1v15(), SHA256())``, cheaper per call (no hash context inside
        ``cryptography``; ``hashlib`` hashes with the same OpenSSL).
        """
        if len(signature) != size:
            return False
        try:
            recovered = recover(signature, _PKCS1V15, None)
        except InvalidSignature:
            return False
        return equal(recovered, _SHA256_DIGEST_INFO + sha256(signing_input).digest())

    return VerifyKey(kid, "RS256", verify, key)


_PSS_SHA256: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
"""RFC 7518 §3.5: RSASSA-PSS with SHA-256, MGF1 with SHA-256, a 32-octet salt."""
_SHA256: Final = hashes.SHA256()


def _ps256(kid: str, jwk: dict[str, Any]) -> VerifyKey:
    key, size = _rsa_public(jwk)
    verify_pss = key.verify

    def verify(signature: bytes, signing_input: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            verify_pss(signature, signing_input, _PSS_SHA256, _SHA256)
        except InvalidSignature:
            return False
        return True

    return VerifyKey(kid, "PS256", verify, key)


_SMALL_ORDER_ED25519: Final = tuple(
    bytes.fromhex(point)
    for point in (
        "00" * 32,  # y = 0: order 4
        "01" + "00" * 31,  # y = 1: the neutral element
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "ec" + "ff" * 30 + "7f",  # y = p - 1: order 2
        "ed" + "ff" * 30 + "7f",  # y = p, a non-canonical 0
        "ee" + "ff" * 30 + "7f",  # y = p + 1, a non-canonical 1
    )
)
"""The ``y`` of every Ed25519 point of small order (RFC 8032 §5.1.3 encodings, sign bit
cleared), non-canonical spellings included: libsodium's blocklist. With such a key a
signature can verify for many messages, so a JWKS offering one is not trusted with it."""


def _eddsa(kid: str, jwk: dict[str, Any]) -> VerifyKey:
    raw = _member(jwk, "x", 32)
    if raw[:31] + bytes([raw[31] & 0x7F]) in _SMALL_ORDER_ED25519:
        raise ValueError("an Ed25519 point of small order")
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    verify_raw = key.verify

    def verify(signature: bytes, signing_input: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            verify_raw(signature, signing_input)
        except InvalidSignature:
            return False
        return True

    return VerifyKey(kid, "EdDSA", verify, key)
