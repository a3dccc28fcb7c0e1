"""Signature checks of parsed JWKs against hand-built RSASSA-PKCS1-v1_5 encodings, and
the strict base64url decoder against the standard library's strict mode."""

from __future__ import annotations

import binascii
import hashlib
import string

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from tests.resource.conftest import SigningKey, new_key
from tollhouse.resource.jwk import VerifyKey, b64decode, parse_jwk

SIGNING_INPUT = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJncmlkIn0"
SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
SHA256_INFO_WITHOUT_NULL = bytes.fromhex("302f300b0609608648016503040201" + "0420")
SHA1_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return new_key("RS256")


@pytest.fixture
def rsa_key(signer: SigningKey) -> rsa.RSAPrivateKey:
    assert isinstance(signer.private, rsa.RSAPrivateKey)
    return signer.private


@pytest.fixture
def key(signer: SigningKey) -> VerifyKey:
    return parse_jwk(signer.jwk())


def raw_sign(private: rsa.RSAPrivateKey, encoded: bytes) -> bytes:
    """RSASP1 on an encoded message of our choosing (what a forger would need to reach)."""
    numbers = private.private_numbers()
    size = private.key_size // 8
    assert len(encoded) == size
    return pow(int.from_bytes(encoded), numbers.d, numbers.public_numbers.n).to_bytes(size)


def encoded(tail: bytes, size: int, *, block_type: bytes = b"\x01") -> bytes:
    """00 || BT || FF.. || 00 || tail, ``size`` octets (RFC 8017 §9.2 step 5)."""
    return b"\x00" + block_type + b"\xff" * (size - 3 - len(tail)) + b"\x00" + tail


def test_a_hand_built_encoding_verifies(rsa_key: rsa.RSAPrivateKey, key: VerifyKey) -> None:
    """The forgeries below differ from this one in one respect each."""
    digest = hashlib.sha256(SIGNING_INPUT).digest()
    signature = raw_sign(rsa_key, encoded(SHA256_INFO + digest, rsa_key.key_size // 8))
    assert key.verify(signature, SIGNING_INPUT)
    assert signature == rsa_key.sign(SIGNING_INPUT, padding.PKCS1v15(), hashes.SHA256())
    assert not key.verify(signature, SIGNING_INPUT + b"x")


@pytest.mark.parametrize(
    "tail",
    [
        SHA1_INFO + hashlib.sha1(SIGNING_INPUT).digest(),  # another hash function
        SHA256_INFO_WITHOUT_NULL + hashlib.sha256(SIGNING_INPUT).digest(),  # lax DER
        SHA256_INFO + hashlib.sha256(SIGNING_INPUT).digest() + b"\x00" * 16,  # trailing bytes
        SHA256_INFO + hashlib.sha256(SIGNING_INPUT).digest()[:31],  # a short hash
        hashlib.sha256(SIGNING_INPUT).digest(),  # the hash without its DigestInfo
        SHA256_INFO + hashlib.sha256(b"other").digest(),
    ],
    ids=["sha1", "no-null", "trailing", "short-hash", "bare-hash", "other-input"],
)
def test_forged_encodings_are_refused(
    rsa_key: rsa.RSAPrivateKey, key: VerifyKey, tail: bytes
) -> None:
    """RFC 8017 §8.2.2 step 4: only the exact encoding of SHA-256 over the input passes;
    nothing inside the encoded message is parsed leniently (Bleichenbacher 2006)."""
    signature = raw_sign(rsa_key, encoded(tail, rsa_key.key_size // 8))
    assert not key.verify(signature, SIGNING_INPUT)


def test_bad_padding_is_refused(rsa_key: rsa.RSAPrivateKey, key: VerifyKey) -> None:
    size = rsa_key.key_size // 8
    tail = SHA256_INFO + hashlib.sha256(SIGNING_INPUT).digest()
    assert not key.verify(raw_sign(rsa_key, encoded(tail, size, block_type=b"\x02")), SIGNING_INPUT)
    # Fewer than eight FF octets: the padding ends early and garbage fills the gap.
    short = b"\x00\x01" + b"\xff" * 7 + b"\x00" + b"\x11" * (size - 10 - len(tail)) + tail
    assert not key.verify(raw_sign(rsa_key, short), SIGNING_INPUT)


def test_signature_must_be_as_long_as_the_modulus(
    rsa_key: rsa.RSAPrivateKey, key: VerifyKey
) -> None:
    signature = rsa_key.sign(SIGNING_INPUT, padding.PKCS1v15(), hashes.SHA256())
    assert key.verify(signature, SIGNING_INPUT)
    assert not key.verify(b"\x00" + signature, SIGNING_INPUT)
    assert not key.verify(signature[1:], SIGNING_INPUT)
    assert not key.verify(b"", SIGNING_INPUT)


def reference_b64decode(segment: str) -> bytes:
    """The standard library's strict decoder on the same translation (base64url → base64),
    accepting only the one spelling its encoder writes (no unused bits set)."""
    data = segment.encode("ascii").translate(bytes.maketrans(b"-_+/=", b"+/***"))
    decoded = binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
    if binascii.b2a_base64(decoded, newline=False).rstrip(b"=") != data:
        raise ValueError("not the canonical spelling")
    return decoded


@given(st.binary(max_size=80))
def test_every_base64url_encoding_decodes(data: bytes) -> None:
    text = binascii.b2a_base64(data, newline=False).decode().rstrip("=")
    assert b64decode(text.replace("+", "-").replace("/", "_")) == data


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_+/=. \n\u00e9*", max_size=24))
def test_decoder_accepts_exactly_what_the_strict_reference_accepts(segment: str) -> None:
    try:
        expected: bytes | None = reference_b64decode(segment)
    except ValueError:
        expected = None
    try:
        actual: bytes | None = b64decode(segment)
    except ValueError:
        actual = None
    assert actual == expected
