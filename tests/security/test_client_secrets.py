"""Client secrets at rest: HMAC-SHA-256 under a master-key subkey, argon2id rows still verify."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time

from tollhouse.security.client_secrets import (
    PREFIX,
    ClientSecretHasher,
    ClientSecretVerifier,
)
from tollhouse.security.hash_gate import HashGate, HashingBusy
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox

BOX = SecretBox(b"m" * 32)
SECRET = "Zk3q8nV1x0aQ-some-256-bit-secret-of-43-chars"
LEGACY = PasswordHasher.for_tests()


def hasher() -> ClientSecretHasher:
    return ClientSecretHasher.from_box(BOX, legacy=LEGACY)


def test_secret_is_stored_as_its_sha256() -> None:
    stored = hasher().hash(SECRET)

    assert stored.startswith(PREFIX)
    assert SECRET not in stored
    expected = hashlib.sha256(SECRET.encode()).digest()
    assert stored[len(PREFIX) :] == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_hmac_rows_of_earlier_builds_still_verify() -> None:
    mac = hmac.new(BOX.derive("client-secrets"), SECRET.encode(), hashlib.sha256).digest()
    stored = "hmac-sha256$" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert hasher().verify(stored, SECRET)
    assert not hasher().verify(stored, SECRET + "x")


def test_matching_secret_verifies_and_others_do_not() -> None:
    stored = hasher().hash(SECRET)

    assert hasher().verify(stored, SECRET)
    assert not hasher().verify(stored, SECRET + "x")
    assert not hasher().verify(stored, SECRET[:-1])
    assert not hasher().verify(stored, "")


def test_secrets_survive_a_master_key_rewrap() -> None:
    """keys rewrap changes the master key; stored client secrets must keep working."""
    stored = hasher().hash(SECRET)
    other = ClientSecretHasher.from_box(SecretBox(b"n" * 32))

    assert other.verify(stored, SECRET)


def test_legacy_argon2id_rows_still_verify() -> None:
    stored = LEGACY.hash(SECRET)

    assert hasher().is_legacy(stored)
    assert hasher().verify(stored, SECRET)
    assert not hasher().verify(stored, "wrong")


def test_malformed_or_unknown_hashes_never_verify_and_never_raise() -> None:
    h = hasher()
    for stored in ("", "plain", "hmac-sha256$", "hmac-sha256$***", "$argon2id$junk", "sha256$x"):
        assert not h.verify(stored, SECRET), stored
    assert not h.verify(h.hash(SECRET), "\udcff")  # a lone surrogate cannot be encoded
    assert not h.verify(h.hash(SECRET), "x" * 5000)  # oversized: refused unhashed


def test_short_keys_are_refused() -> None:
    try:
        ClientSecretHasher(b"short")
    except ValueError:
        return
    raise AssertionError("a short key was accepted")


def test_repr_hides_the_key() -> None:
    assert "redacted" in repr(hasher())


def test_hmac_verification_is_cheap() -> None:
    h = hasher()
    stored = h.hash(SECRET)
    started = time.perf_counter()
    for _ in range(1000):
        h.verify(stored, SECRET)
    assert time.perf_counter() - started < 0.5  # argon2id takes ~10-175 ms per check


async def test_async_verifier_checks_hmac_inline_and_argon2_in_a_thread() -> None:
    verifier = ClientSecretVerifier(hasher())

    assert await verifier.verify(await verifier.hash(SECRET), SECRET)
    assert await verifier.verify(LEGACY.hash(SECRET), SECRET)
    assert not await verifier.verify(LEGACY.hash(SECRET), "wrong")
    await verifier.dummy_verify()


async def test_legacy_argon2_checks_go_through_the_gate() -> None:
    """Old argon2id rows cost memory per check: the gate bounds how many run at once."""
    gate = HashGate(concurrency=1, queue=0, queue_time=0)
    verifier = ClientSecretVerifier(hasher(), gate)
    stored = LEGACY.hash(SECRET)
    answers = await asyncio.gather(
        *(verifier.verify(stored, SECRET) for _ in range(3)), return_exceptions=True
    )
    assert answers.count(True) >= 1
    assert any(isinstance(a, HashingBusy) for a in answers)
    digest = await verifier.hash(SECRET)
    assert all(await asyncio.gather(*(verifier.verify(digest, SECRET) for _ in range(3))))
