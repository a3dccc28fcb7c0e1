"""AES-256-GCM secret box: round trip, and every tamper fails closed."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tollhouse.security.secretbox import DecryptionError, SecretBox

KEY = bytes(range(32))


def test_seal_then_open_round_trips() -> None:
    box = SecretBox(KEY)
    blob = box.seal(b"private jwk", aad=b"kid-1")
    assert box.open(blob, aad=b"kid-1") == b"private jwk"


def test_blob_is_version_nonce_ciphertext_tag() -> None:
    blob = SecretBox(KEY).seal(b"abc", aad=b"")
    assert blob[0] == 1
    assert len(blob) == 1 + 12 + 3 + 16


def test_each_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox(KEY)
    first, second = box.seal(b"same", b"aad"), box.seal(b"same", b"aad")
    assert first[1:13] != second[1:13]
    assert first != second


def test_empty_plaintext_round_trips() -> None:
    box = SecretBox(KEY)
    assert box.open(box.seal(b"", b"x"), b"x") == b""


def test_wrong_aad_is_refused() -> None:
    box = SecretBox(KEY)
    blob = box.seal(b"secret", aad=b"kid-1")
    with pytest.raises(DecryptionError):
        box.open(blob, aad=b"kid-2")


def test_wrong_key_is_refused() -> None:
    blob = SecretBox(KEY).seal(b"secret", aad=b"kid")
    with pytest.raises(DecryptionError):
        SecretBox(os.urandom(32)).open(blob, aad=b"kid")


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_any_flipped_byte_is_refused(position: int) -> None:
    box = SecretBox(KEY)
    blob = bytearray(box.seal(b"secret value", aad=b"kid"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        box.open(bytes(blob), aad=b"kid")


@pytest.mark.parametrize("length", [0, 1, 13, 28])
def test_truncated_blob_is_refused(length: int) -> None:
    box = SecretBox(KEY)
    blob = box.seal(b"", aad=b"kid")  # 29 bytes: the shortest valid blob
    assert len(blob) == 29
    with pytest.raises(DecryptionError):
        box.open(blob[:length], aad=b"kid")


@pytest.mark.parametrize("key", [b"", b"\x00" * 16, b"\x00" * 31, b"\x00" * 33])
def test_key_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(key)


def test_repr_does_not_show_the_key() -> None:
    assert KEY.hex() not in repr(SecretBox(KEY))
    assert repr(KEY) not in repr(SecretBox(KEY))


def test_derive_is_hkdf_sha256_of_the_master_key() -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tollhouse/derive/v1/cookie"
    ).derive(KEY)
    assert SecretBox(KEY).derive("cookie") == expected


def test_derive_separates_purposes_and_master_keys() -> None:
    box = SecretBox(KEY)
    cookie, csrf = box.derive("cookie"), box.derive("csrf")
    assert len(cookie) == 32
    assert cookie != csrf
    assert KEY not in (cookie, csrf)
    assert box.derive("cookie") == cookie
    assert SecretBox(os.urandom(32)).derive("cookie") != cookie


def test_derive_requires_a_purpose() -> None:
    with pytest.raises(ValueError):
        SecretBox(KEY).derive("")
