"""Signing keys: RFC 7638 kids, sealed private JWKs, JWKS publication, JWS signatures."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import os
import threading
from typing import Any

import jwt
import pytest

from tollhouse.clock import FrozenClock
from tollhouse.errors import ConfigError
from tollhouse.keys import SUPPORTED_ALGS, KeyRing, generate, spare_cores
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox

BOX = SecretBox(bytes(range(32)))
NOW = 1_800_000_000
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
REQUIRED_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


class FakeKeyStore:
    """The ``KeyStore`` port over a list, newest first."""

    def __init__(self, *initial: SigningKey) -> None:
        self.keys = sorted(initial, key=lambda k: k.created_at, reverse=True)
        self.list_calls = 0

    async def add_key(self, key: SigningKey) -> None:
        self.keys.insert(0, key)

    async def list_keys(self) -> list[SigningKey]:
        self.list_calls += 1
        return list(self.keys)

    async def set_key_status(self, kid: str, status: str, at: int) -> bool:
        for i, key in enumerate(self.keys):
            if key.kid == kid:
                retired_at = at if status == "retired" else None
                self.keys[i] = dataclasses.replace(key, status=status, retired_at=retired_at)
                return True
        return False


@pytest.fixture(scope="module")
def generated() -> dict[str, SigningKey]:
    """One key per algorithm (RSA generation is slow: make each once)."""
    return {alg: generate(alg, BOX, NOW) for alg in SUPPORTED_ALGS}


class CountingBox(SecretBox):
    """The same master key as ``BOX``, counting how often a blob is opened."""

    def __init__(self) -> None:
        super().__init__(bytes(range(32)))
        self.opened: list[bytes] = []

    def open(self, blob: bytes, aad: bytes) -> bytes:
        self.opened.append(aad)
        return super().open(blob, aad)


def rfc7638(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace; base64url."""
    members = {name: jwk[name] for name in sorted(REQUIRED_MEMBERS[jwk["kty"]])}
    canonical = json.dumps(members, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


async def ring_with(
    *records: SigningKey,
    alg: str = "ES256",
    clock: FrozenClock | None = None,
    signing_threads: int | None = None,
) -> KeyRing:
    ring = KeyRing(
        FakeKeyStore(*records),
        BOX,
        clock or FrozenClock(NOW),
        alg=alg,
        signing_threads=signing_threads,
    )
    await ring.load()
    return ring


def verify_with_pyjwt(token: str, jwks: dict[str, Any], alg: str) -> dict[str, Any]:
    """Verify with PyJWT, an implementation independent of joserfc."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=[alg], audience="api")
    return claims


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
    from joserfc import jwk

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


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_kid_is_the_rfc7638_thumbprint(generated: dict[str, SigningKey], alg: str) -> None:
    assert generated[alg].kid == rfc7638(generated[alg].public_jwk)


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
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


# --- signing ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
async def test_sign_jwt_verifies_with_pyjwt_against_the_published_jwks(
    generated: dict[str, SigningKey], alg: str
) -> None:
    ring = await ring_with(*generated.values(), alg=alg)
    claims = {
        "iss": "https://idp.test",
        "sub": "user-1",
        "aud": "api",
        "exp": 4_000_000_000,
        "name": "Zoë",
    }
    token = ring.sign_jwt(claims, typ="at+jwt")
    assert jwt.get_unverified_header(token) == {
        "alg": alg,
        "typ": "at+jwt",
        "kid": generated[alg].kid,
    }
    assert verify_with_pyjwt(token, ring.jwks(), alg) == claims


async def test_sign_jwt_with_an_explicit_alg_and_typ(generated: dict[str, SigningKey]) -> None:
    ring = await ring_with(*generated.values(), alg="ES256")
    token = ring.sign_jwt({"aud": "api"}, typ="JWT", alg="RS256")
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": generated["RS256"].kid,
    }
    assert verify_with_pyjwt(token, ring.jwks(), "RS256") == {"aud": "api"}
    second = ring.sign_jwt({"aud": "api"}, typ="logout+jwt", alg="RS256")
    assert jwt.get_unverified_header(second)["typ"] == "logout+jwt"


def signing_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("tollhouse-sign")}


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
async def test_sign_jwt_async_signs_what_sign_jwt_signs(
    generated: dict[str, SigningKey], alg: str
) -> None:
    ring = await ring_with(*generated.values(), signing_threads=1)
    try:
        token = await ring.sign_jwt_async({"aud": "api", "sub": "u"}, typ="JWT", alg=alg)
    finally:
        ring.close()
    assert jwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": generated[alg].kid}
    assert verify_with_pyjwt(token, ring.jwks(), alg) == {"aud": "api", "sub": "u"}


async def test_rsa_signatures_are_made_off_the_event_loop(
    generated: dict[str, SigningKey],
) -> None:
    """An RSA signature takes 0.2-0.8 ms: with a signing thread, the loop keeps serving."""
    ring = await ring_with(*generated.values(), signing_threads=1)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10_000):  # bounded
            ticks += 1
            await asyncio.sleep(0)

    try:
        before = signing_threads()
        await ring.sign_jwt_async({"aud": "api"}, typ="JWT", alg="ES256")
        assert signing_threads() == before  # fast algs stay on the loop: no hand-off
        running = asyncio.create_task(ticker())
        await asyncio.gather(
            *(ring.sign_jwt_async({"aud": "api", "n": n}, typ="JWT", alg="RS256") for n in range(8))
        )
        running.cancel()
        assert len(signing_threads() - before) == 1
        assert ticks > 8  # the loop ran while the signatures were being made
    finally:
        ring.close()


def test_without_signing_threads_every_signature_is_made_on_the_loop(
    generated: dict[str, SigningKey],
) -> None:
    async def sign() -> str:
        ring = await ring_with(*generated.values(), signing_threads=0)
        return await ring.sign_jwt_async({"aud": "api"}, typ="JWT", alg="RS256")

    before = signing_threads()
    token = asyncio.run(sign())
    assert signing_threads() == before
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(1, 1, 0), (2, 1, 1), (2, 2, 0), (4, 1, 3), (4, 2, 1), (8, 3, 1), (2, 4, 0)],
)
def test_signing_threads_use_the_cores_the_workers_leave(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    """One event loop per worker process; what is left over is shared for RSA signing."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert spare_cores(workers) == threads


async def test_signing_does_not_reparse_keys_or_touch_the_store(
    generated: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, box = FakeKeyStore(*generated.values()), CountingBox()
    ring = KeyRing(store, box, FrozenClock(NOW))
    await ring.load()
    assert len(box.opened) == len(SUPPORTED_ALGS)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a key while signing")

    monkeypatch.setattr("tollhouse.keys.jwk.import_key", forbidden)
    monkeypatch.setattr("tollhouse.keys.json.loads", forbidden)
    for alg in SUPPORTED_ALGS:
        for _ in range(3):
            ring.sign_jwt({"aud": "api"}, typ="at+jwt", alg=alg)
    assert store.list_calls == 1
    assert len(box.opened) == len(SUPPORTED_ALGS)


async def test_signing_with_an_alg_that_has_no_active_key_is_a_clear_error(
    generated: dict[str, SigningKey],
) -> None:
    ring = await ring_with(generated["ES256"])
    with pytest.raises(ConfigError, match="no active RS256 signing key"):
        ring.sign_jwt({}, typ="JWT", alg="RS256")
    assert ring.algorithms == ("ES256",)


def test_signing_before_load_is_a_programming_error(generated: dict[str, SigningKey]) -> None:
    ring = KeyRing(FakeKeyStore(generated["ES256"]), BOX, FrozenClock(NOW))
    with pytest.raises(RuntimeError, match="load"):
        ring.signing_key()


# --- JWKS and rotation ------------------------------------------------------------------


async def test_jwks_publishes_active_and_retired_keys_without_private_members(
    generated: dict[str, SigningKey],
) -> None:
    retired = dataclasses.replace(generated["RS256"], status="retired", retired_at=NOW)
    unknown = dataclasses.replace(generated["EdDSA"], status="revoked")
    ring = await ring_with(generated["ES256"], retired, unknown)
    published = ring.jwks()
    assert {k["kid"] for k in published["keys"]} == {generated["ES256"].kid, retired.kid}
    for key in published["keys"]:
        assert not PRIVATE_MEMBERS & key.keys()
        assert key["use"] == "sig"
        assert key["alg"] in SUPPORTED_ALGS
    assert ring.algorithms == ("ES256",)  # a retired key is published but never signs


async def test_jwks_returns_copies(generated: dict[str, SigningKey]) -> None:
    ring = await ring_with(generated["ES256"])
    ring.jwks()["keys"][0]["d"] = "oops"
    assert "d" not in ring.jwks()["keys"][0]


async def test_newest_active_key_signs(generated: dict[str, SigningKey]) -> None:
    older = dataclasses.replace(generated["ES256"], created_at=NOW - 100)
    newer = generate("ES256", BOX, NOW)
    ring = await ring_with(newer, older)
    assert ring.signing_key().kid == newer.kid
    assert jwt.get_unverified_header(ring.sign_jwt({}, typ="JWT"))["kid"] == newer.kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [newer.kid, older.kid]


async def test_ensure_key_generates_once_then_reuses() -> None:
    store = FakeKeyStore()
    ring = KeyRing(store, BOX, FrozenClock(NOW), alg="ES256")
    first = await ring.ensure_key()
    assert ring.signing_key("ES256") == first
    assert await ring.ensure_key("ES256") == first
    assert [k.kid for k in store.keys] == [first.kid]


class LateStore(FakeKeyStore):
    """Another instance commits ``late`` just after this instance's first read."""

    def __init__(self, late: SigningKey) -> None:
        super().__init__()
        self.late = late

    async def list_keys(self) -> list[SigningKey]:
        keys = await super().list_keys()
        if self.list_calls == 1:
            self.keys.insert(0, self.late)
        return keys


async def test_ensure_key_uses_a_key_another_instance_created_after_its_first_read(
    generated: dict[str, SigningKey],
) -> None:
    """Its load saw no key, its next read sees the other instance's: it must load that
    one, not insert the next generation beside it (two ES256 signing keys, seen once
    on PostgreSQL with two instances starting together)."""
    other = dataclasses.replace(generated["ES256"], activates_at=NOW, generation=1)
    store = LateStore(other)
    ring = KeyRing(store, BOX, FrozenClock(NOW), alg="ES256")
    assert await ring.ensure_key() == other
    assert [k.kid for k in store.keys] == [other.kid]


async def test_ensure_key_adds_a_missing_alg(generated: dict[str, SigningKey]) -> None:
    store = FakeKeyStore(generated["ES256"])
    ring = KeyRing(store, BOX, FrozenClock(NOW))
    eddsa = await ring.ensure_key("EdDSA")
    assert ring.algorithms == ("ES256", "EdDSA")
    assert ring.signing_key("EdDSA") == eddsa
    assert len(store.keys) == 2


async def test_reload_picks_up_a_rotation_after_the_interval(
    generated: dict[str, SigningKey],
) -> None:
    clock = FrozenClock(NOW)
    store = FakeKeyStore(generated["ES256"])
    ring = KeyRing(store, BOX, clock, reload_interval=10)
    await ring.load()

    rotated = generate("ES256", BOX, NOW + 1)
    await store.add_key(rotated)  # the CLI, in another process
    await store.set_key_status(generated["ES256"].kid, "retired", NOW + 1)

    clock.advance(9)
    assert await ring.maybe_reload() is False
    assert ring.signing_key().kid == generated["ES256"].kid
    assert store.list_calls == 1

    clock.advance(1)
    assert await ring.maybe_reload() is True
    assert ring.signing_key().kid == rotated.kid
    assert {k["kid"] for k in ring.jwks()["keys"]} == {rotated.kid, generated["ES256"].kid}
    assert await ring.maybe_reload() is False  # next reload only after another interval


async def test_reload_does_not_decrypt_known_keys_again(
    generated: dict[str, SigningKey],
) -> None:
    clock, box = FrozenClock(NOW), CountingBox()
    ring = KeyRing(FakeKeyStore(*generated.values()), box, clock)
    await ring.load()
    box.opened.clear()
    clock.advance(60)
    assert await ring.maybe_reload() is True
    assert box.opened == []


async def test_failed_reload_keeps_the_current_keys(
    generated: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(NOW)
    store = FakeKeyStore(generated["ES256"])
    ring = KeyRing(store, BOX, clock)
    await ring.load()
    foreign = generate("ES256", SecretBox(b"\x07" * 32), NOW + 1)
    await store.add_key(foreign)
    clock.advance(10)
    with caplog.at_level(logging.ERROR, logger="tollhouse.keys"):
        assert await ring.maybe_reload() is False
    assert "could not be reloaded" in caplog.text
    assert ring.signing_key().kid == generated["ES256"].kid


# --- keys that must not load ------------------------------------------------------------


async def test_wrong_master_key_fails_load_with_the_kid(generated: dict[str, SigningKey]) -> None:
    ring = KeyRing(FakeKeyStore(generated["ES256"]), SecretBox(b"\x01" * 32), FrozenClock(NOW))
    with pytest.raises(ConfigError) as caught:
        await ring.load()
    assert str(caught.value) == (
        f"signing key {generated['ES256'].kid} cannot be decrypted with this master key"
    )


@pytest.mark.parametrize("position", [0, 5, 40, -1])
async def test_tampered_ciphertext_fails_load(
    generated: dict[str, SigningKey], position: int
) -> None:
    blob = bytearray(generated["EdDSA"].private_ciphertext)
    blob[position] ^= 0x80
    tampered = dataclasses.replace(generated["EdDSA"], private_ciphertext=bytes(blob))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        await ring_with(tampered)


async def test_ciphertext_moved_to_another_kid_fails_load(generated: dict[str, SigningKey]) -> None:
    moved = dataclasses.replace(
        generated["ES256"], private_ciphertext=generate("ES256", BOX, NOW).private_ciphertext
    )
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        await ring_with(moved)


async def test_public_jwk_not_matching_the_private_key_fails_load(
    generated: dict[str, SigningKey],
) -> None:
    other = generate("ES256", BOX, NOW).public_jwk
    swapped = dataclasses.replace(
        generated["ES256"], public_jwk={**other, "kid": generated["ES256"].kid}
    )
    with pytest.raises(ConfigError, match="does not match"):
        await ring_with(swapped)


async def test_retired_keys_are_not_decrypted(generated: dict[str, SigningKey]) -> None:
    """A retired key from an old master key still publishes; it never signs again."""
    old = generate("ES256", SecretBox(b"\x02" * 32), NOW - 1000)
    retired = dataclasses.replace(old, status="retired", retired_at=NOW - 10)
    ring = await ring_with(generated["ES256"], retired)
    assert retired.kid in {k["kid"] for k in ring.jwks()["keys"]}


# --- verified-token cache ----------------------------------------------------------------


def _never(signature: bytes, signing_input: bytes) -> bool:
    raise AssertionError("the signature was checked again")


async def test_a_verified_token_is_not_verified_again(generated: dict[str, SigningKey]) -> None:
    ring = await ring_with(generated["ES256"])
    token = ring.sign_jwt({"sub": "s", "aud": "api"}, typ="at+jwt")
    header, claims = ring.verify_jwt(token) or ({}, {})
    assert claims["sub"] == "s" and header["kid"] == generated["ES256"].kid
    kid = generated["ES256"].kid
    ring._state.verifiers[kid] = dataclasses.replace(ring._state.verifiers[kid], verify=_never)
    again = ring.verify_jwt(token)
    assert again is not None and again[1] == claims
    again[1]["sub"] = "changed by a caller"
    assert (ring.verify_jwt(token) or ({}, {}))[1]["sub"] == "s"  # callers get copies


async def test_a_forged_token_is_never_remembered(generated: dict[str, SigningKey]) -> None:
    ring = await ring_with(generated["ES256"])
    head, payload, signature = ring.sign_jwt({"sub": "s"}, typ="at+jwt").split(".")
    forged = f"{head}.{payload}.{'A' * len(signature)}"
    assert ring.verify_jwt(forged) is None
    assert ring._verified.get(hashlib.sha256(forged.encode()).digest()) is None
    assert ring.verify_jwt(forged) is None


async def test_tokens_of_a_key_no_longer_published_stop_verifying(
    generated: dict[str, SigningKey],
) -> None:
    clock = FrozenClock(NOW)
    store = FakeKeyStore(generated["ES256"])
    ring = KeyRing(store, BOX, clock, reload_interval=10)
    await ring.load()
    token = ring.sign_jwt({"sub": "s"}, typ="at+jwt")
    assert ring.verify_jwt(token) is not None
    replacement = generate("ES256", BOX, NOW + 1)
    store.keys = [replacement]  # the old key's publication ended and it was deleted
    clock.advance(10)
    assert await ring.maybe_reload() is True
    assert ring.verify_jwt(token) is None
