"""Every active private key opens with the master key and matches its published JWK;
every kid is the RFC 7638 thumbprint; the served JWKS equals the keys table."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tollhouse.diagnostics.findings import Finding, Level
from tollhouse.diagnostics.key_checks import check_keys, check_published, published_keys
from tollhouse.keys import generate
from tollhouse.keys.lifecycle import DEFAULT_RETENTION
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox

NOW = 1_800_000_000
BOX = SecretBox(b"m" * 32)
OTHER_BOX = SecretBox(b"o" * 32)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate("ES256", BOX, NOW)


@pytest.fixture(scope="module")
def other() -> SigningKey:
    """An older key: the one ``key`` replaced."""
    return generate("ES256", BOX, NOW - 1000)


def errors(found: list[Finding]) -> list[str]:
    return [f.what for f in found if f.level is Level.ERROR]


def test_healthy_active_and_retired_keys_are_ok(key: SigningKey, other: SigningKey) -> None:
    retired = dataclasses.replace(other, status="retired", retired_at=NOW)
    found = check_keys([key, retired], BOX, "ES256", NOW)
    assert [f.level for f in found] == [Level.OK, Level.OK]
    assert found[0].what.startswith(f"signing ES256 key {key.kid} opens with the master key")
    assert found[1].what.startswith(f"retired ES256 key {other.kid} kid is")


def test_active_key_sealed_under_another_master_key_is_an_error(key: SigningKey) -> None:
    found = check_keys([key], OTHER_BOX, "ES256", NOW)
    assert errors(found) == [f"active key {key.kid} cannot be decrypted with this master key"]
    assert "retire" in (found[0].fix or "")


def test_retired_key_is_not_decrypted(key: SigningKey) -> None:
    retired = dataclasses.replace(key, status="retired")
    found = check_keys([retired], OTHER_BOX, "RS256", NOW)
    assert errors(found) == []


def test_kid_that_is_not_the_thumbprint_is_an_error(key: SigningKey) -> None:
    renamed = dataclasses.replace(key, kid="not-the-thumbprint")
    assert (
        "kid is not the RFC 7638 thumbprint" in errors(check_keys([renamed], None, "ES256", NOW))[0]
    )


def test_private_members_in_the_published_jwk_are_an_error(key: SigningKey) -> None:
    private = json.loads(BOX.open(key.private_ciphertext, aad=key.kid.encode()))
    leaking = dataclasses.replace(key, public_jwk={**key.public_jwk, "d": private["d"]})
    assert "contains private members (d)" in errors(check_keys([leaking], BOX, "ES256", NOW))[0]


def test_private_key_that_does_not_match_the_public_jwk_is_an_error(
    key: SigningKey, other: SigningKey
) -> None:
    # The other key's private part, sealed under this key's kid: it opens, but is not ours.
    plaintext = BOX.open(other.private_ciphertext, aad=other.kid.encode())
    swapped = dataclasses.replace(key, private_ciphertext=BOX.seal(plaintext, aad=key.kid.encode()))
    found = errors(check_keys([swapped], BOX, "ES256", NOW))
    assert found == [
        f"active key {key.kid}: the private key does not match the published public JWK"
    ]


def test_missing_key_of_the_configured_alg_is_a_warning(key: SigningKey) -> None:
    found = check_keys([key], BOX, "RS256", NOW)
    assert found[0].level is Level.WARNING
    assert "no active RS256 key" in found[0].what


def test_key_signing_for_over_a_year_should_be_rotated(key: SigningKey) -> None:
    found = check_keys([key], BOX, "ES256", NOW + 400 * 86400)
    assert found[0].level is Level.WARNING
    assert "has signed for over a year" in found[0].what


def test_retired_key_past_its_retention_is_no_longer_published(
    key: SigningKey, other: SigningKey
) -> None:
    gone = dataclasses.replace(other, status="retired", retired_at=NOW - DEFAULT_RETENTION - 1)
    assert published_keys([key, gone], NOW) == [key]
    assert len(check_keys([key, gone], BOX, "ES256", NOW)) == 1


def test_served_jwks_must_equal_the_keys_table(key: SigningKey, other: SigningKey) -> None:
    table = [key, other]
    same = {"keys": [key.public_jwk, other.public_jwk]}
    assert [f.level for f in check_published(table, same, "jwks")] == [Level.OK]
    missing = {"keys": [key.public_jwk]}
    assert f"missing {other.kid}" in errors(check_published(table, missing, "jwks"))[0]
    altered = {"keys": [key.public_jwk, {**other.public_jwk, "x": key.public_jwk["x"]}]}
    assert "other key material" in errors(check_published(table, altered, "jwks"))[0]
    assert "not a JWK Set" in errors(check_published(table, ["nope"], "jwks"))[0]


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return generate("RS256", BOX, NOW)


def test_rsa_keys_are_reported_with_their_modulus(rsa_key: SigningKey) -> None:
    found = check_keys([rsa_key], BOX, "RS256", NOW)
    assert [f.level for f in found] == [Level.OK]
    assert "RS256 key" in found[0].what and "RSA-2048" in found[0].what


def test_an_rsa_key_shorter_than_the_configured_size_should_be_rotated(
    rsa_key: SigningKey,
) -> None:
    found = check_keys([rsa_key], BOX, "RS256", NOW, rsa_bits=3072)
    assert [f.level for f in found] == [Level.WARNING]
    assert "RSA-2048, shorter than TOLLHOUSE_RSA_KEY_BITS=3072" in found[0].what
    assert "tollhouse keys rotate --alg RS256" in found[0].fix
