"""Key material: RFC 7638 kids, sealed private JWKs, RSA sizes, and keys that must not open."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from typing import Any

import pytest
from joserfc import jwk

from tests.keys.fakes import BOX, NOW, PRIVATE_MEMBERS, FakeKeyStore
from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.clock import FrozenClock
from tollhouse.errors import ConfigError
from tollhouse.keys import KeyRing, generate
from tollhouse.keys.material import unseal
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox

REQUIRED_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def rfc7638(public: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace; base64url."""
    members = {name: public[name] for name in sorted(REQUIRED_MEMBERS[public["kty"]])}
    canonical = json.dumps(members, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


# --- generate ---------------------------------------------------------------------------


def test_rfc7638_section_3_1_example_thumbprint() -> None:
    example: dict[str, str | list[str]] = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    expected = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert rfc7638(example) == expected
    assert jwk.import_key(example).thumbprint() == expected


@pytest.mark.parametrize(
    ("alg", "kty", "params"),
    [
        ("ES256", "EC", {"crv": "P-256"}),
        ("RS256", "RSA", {"e": "AQAB"}),
        ("EdDSA", "OKP", {"crv": "Ed25519"}),
    ],
)
def test_generated_public_jwk_carries_kty_params_kid_alg_use(
    generated: dict[str, SigningKey], alg: str, kty: str, params: dict[str, str]
) -> None:
    record = generated[alg]
    public = record.public_jwk
    assert public["kty"] == kty
    assert params.items() <= public.items()
    assert set(REQUIRED_MEMBERS[kty]) <= public.keys()
    assert (public["kid"], public["alg"], public["use"]) == (record.kid, alg, "sig")
    assert not PRIVATE_MEMBERS & public.keys()
    assert (record.alg, record.status, record.created_at) == (alg, "active", NOW)


def modulus_bits(record: SigningKey) -> int:
    modulus = base64.urlsafe_b64decode(record.public_jwk["n"] + "==")
    return int.from_bytes(modulus, "big").bit_length()


def test_rsa_keys_are_2048_bits_unless_the_operator_asks_for_more(
    generated: dict[str, SigningKey],
) -> None:
    assert modulus_bits(generated["RS256"]) == 2048
    assert modulus_bits(generate("RS256", BOX, NOW, rsa_bits=3072)) == 3072


def test_rsa_key_sizes_outside_the_supported_ones_are_refused() -> None:
    for bits in (1024, 2047, 2560, 8192):
        with pytest.raises(ConfigError, match="unsupported RSA key size"):
            generate("RS256", BOX, NOW, rsa_bits=bits)


async def test_ring_creates_rsa_keys_of_the_configured_size() -> None:
    ring = KeyRing(FakeKeyStore(), BOX, FrozenClock(NOW), rsa_bits=3072)
    assert modulus_bits(await ring.ensure_key("RS256")) == 3072


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_kid_is_the_rfc7638_thumbprint(generated: dict[str, SigningKey], alg: str) -> None:
    assert generated[alg].kid == rfc7638(generated[alg].public_jwk)


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_private_jwk_is_sealed_with_the_kid_as_aad(
    generated: dict[str, SigningKey], alg: str
) -> None:
    record = generated[alg]
    private = json.loads(BOX.open(record.private_ciphertext, aad=record.kid.encode()))
    assert "d" in private
    assert private["kid"] == record.kid
    assert b'"d"' not in record.private_ciphertext


def test_unsupported_alg_is_refused() -> None:
    with pytest.raises(ConfigError, match="HS256"):
        generate("HS256", BOX, NOW)
    with pytest.raises(ConfigError, match="none"):
        KeyRing(FakeKeyStore(), BOX, FrozenClock(), alg="none")


# --- keys that must not open -----------------------------------------------------------


def test_wrong_master_key_is_refused_naming_the_kid(generated: dict[str, SigningKey]) -> None:
    with pytest.raises(ConfigError) as caught:
        unseal(generated["ES256"], SecretBox(b"\x01" * 32))
    assert str(caught.value) == (
        f"signing key {generated['ES256'].kid} cannot be decrypted with this master key"
    )


@pytest.mark.parametrize("position", [0, 5, 40, -1])
def test_tampered_ciphertext_is_refused(generated: dict[str, SigningKey], position: int) -> None:
    blob = bytearray(generated["EdDSA"].private_ciphertext)
    blob[position] ^= 0x80
    tampered = dataclasses.replace(generated["EdDSA"], private_ciphertext=bytes(blob))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        unseal(tampered, BOX)


def test_ciphertext_moved_to_another_kid_is_refused(generated: dict[str, SigningKey]) -> None:
    moved = dataclasses.replace(
        generated["ES256"], private_ciphertext=generate("ES256", BOX, NOW).private_ciphertext
    )
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        unseal(moved, BOX)


def test_public_jwk_not_matching_the_private_key_is_refused(
    generated: dict[str, SigningKey],
) -> None:
    other = generate("ES256", BOX, NOW).public_jwk
    swapped = dataclasses.replace(
        generated["ES256"], public_jwk={**other, "kid": generated["ES256"].kid}
    )
    with pytest.raises(ConfigError, match="does not match"):
        unseal(swapped, BOX)


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_an_unsealed_key_signs_for_its_alg(generated: dict[str, SigningKey], alg: str) -> None:
    assert unseal(generated[alg], BOX)(b"header.payload")
