"""argon2id password hashing (RFC 9106): profiles, verification that never raises."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tollhouse.security.passwords import PasswordHasher


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher.for_tests()


def test_hash_is_an_argon2id_phc_string(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert "correct horse" not in stored


def test_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert hasher.hash("pw") != hasher.hash("pw")


def test_verify_accepts_the_right_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "correct horse") is True


def test_verify_rejects_a_wrong_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "Correct horse") is False


def test_verify_handles_unicode_passwords(hasher: PasswordHasher) -> None:
    stored = hasher.hash("pässwörd 🔑")
    assert hasher.verify(stored, "pässwörd 🔑") is True
    assert hasher.verify(stored, "passwörd 🔑") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$bm90LWEtc2FsdA$broken",
        "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$2m9ziqvw2gZJ8sWmmKs5ttMv3rM3Rmu2m9ziqvw2gZI",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    ],
)
def test_verify_returns_false_for_malformed_or_foreign_hashes(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(stored, "anything") is False


def test_verify_returns_false_for_unencodable_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("pw"), "\ud800") is False


def test_needs_rehash_is_false_for_own_parameters(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash(hasher.hash("pw")) is False


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher) -> None:
    cheap = hasher.hash("pw")
    stronger = PasswordHasher(time_cost=2, memory_kib=16, parallelism=1)
    assert stronger.needs_rehash(cheap) is True
    assert stronger.verify(cheap, "pw") is True  # old hashes still verify until rehashed


@pytest.mark.parametrize("stored", ["", "garbage", "$argon2id$v=19$m=x"])
def test_needs_rehash_for_malformed_hash(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.needs_rehash(stored) is True


def test_dummy_verify_returns_nothing_and_raises_nothing(hasher: PasswordHasher) -> None:
    assert hasher.dummy_verify() is None  # type: ignore[func-returns-value]
    hasher.dummy_verify()


def test_dummy_verify_costs_about_one_verify() -> None:
    """A missing user must not answer measurably faster than a wrong password."""
    hasher = PasswordHasher(time_cost=1, memory_kib=4 * 1024, parallelism=1)
    stored = hasher.hash("pw")
    hasher.dummy_verify()  # first call also makes the reference hash

    def best_of(fn: Callable[[], object], rounds: int = 5) -> float:
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - start)
        return min(timings)

    real = best_of(lambda: hasher.verify(stored, "wrong"))
    dummy = best_of(hasher.dummy_verify)
    assert 0.5 < dummy / real < 2.0


def test_production_profiles_encode_their_parameters() -> None:
    """RFC 9106 §4 second option for users; cheap argon2id for random client secrets."""
    users = PasswordHasher.for_users()
    stored = users.hash("a user's password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert users.verify(stored, "a user's password") is True
    assert users.needs_rehash(stored) is False

    secrets_hasher = PasswordHasher.for_client_secrets()
    stored = secrets_hasher.hash("a 256-bit random client secret")
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert users.needs_rehash(stored) is True
