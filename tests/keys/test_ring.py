"""The key ring: signs with the current key, publishes the JWKS (RFC 7517 §5), verifies
its own JWS (RFC 7515), and stays current with the store without being asked."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.keys.fakes import BOX, NOW, PRIVATE_MEMBERS, CountingBox, FakeKeyStore, due_reload
from tollhouse.algorithms import SIGNING_ALGS
from tollhouse.clock import FrozenClock, SystemClock
from tollhouse.errors import ConfigError
from tollhouse.keys import KeyRing, generate, spare_cores
from tollhouse.keys.rotation import KeyRotation
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.sql import open_storage


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


async def test_ring_creates_rsa_keys_of_the_configured_size() -> None:
    ring = KeyRing(FakeKeyStore(), BOX, FrozenClock(NOW), rsa_bits=3072)
    key = await ring.ensure_key("RS256")
    modulus = base64.urlsafe_b64decode(key.public_jwk["n"] + "==")
    assert int.from_bytes(modulus, "big").bit_length() == 3072


def test_a_ring_for_an_unsupported_alg_is_refused() -> None:
    with pytest.raises(ConfigError, match="none"):
        KeyRing(FakeKeyStore(), BOX, FrozenClock(), alg="none")


# --- signing ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNING_ALGS)
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


@pytest.mark.parametrize("alg", SIGNING_ALGS)
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
    """An RSA signature is slow enough to matter: with a signing thread, the loop keeps
    serving meanwhile."""
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
        assert signing_threads() <= before  # fast algs stay on the loop: no hand-off
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
    assert signing_threads() <= before  # none started (an earlier test's may have ended)
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
    assert len(box.opened) == len(SIGNING_ALGS)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a key while signing")

    monkeypatch.setattr("tollhouse.keys.material.jwk.import_key", forbidden)
    monkeypatch.setattr("tollhouse.keys.material.json.loads", forbidden)
    monkeypatch.setattr("tollhouse.resource.at_jwt.json.loads", forbidden)
    for alg in SIGNING_ALGS:
        for _ in range(3):
            ring.sign_jwt({"aud": "api"}, typ="at+jwt", alg=alg)
    assert store.list_calls == 1
    assert len(box.opened) == len(SIGNING_ALGS)


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
        assert key["alg"] in SIGNING_ALGS
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
    assert await due_reload(ring) is False
    assert ring.signing_key().kid == generated["ES256"].kid
    assert store.list_calls == 1

    clock.advance(1)
    assert await due_reload(ring) is True
    assert ring.signing_key().kid == rotated.kid
    assert {k["kid"] for k in ring.jwks()["keys"]} == {rotated.kid, generated["ES256"].kid}
    assert await due_reload(ring) is False  # next reload only after another interval


async def test_reload_does_not_decrypt_known_keys_again(
    generated: dict[str, SigningKey],
) -> None:
    clock, box = FrozenClock(NOW), CountingBox()
    ring = KeyRing(FakeKeyStore(*generated.values()), box, clock)
    await ring.load()
    box.opened.clear()
    clock.advance(60)
    assert await due_reload(ring) is True
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
        assert await due_reload(ring) is False
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
    assert await due_reload(ring) is True
    assert ring.verify_jwt(token) is None


# --- staying current --------------------------------------------------------------------


async def test_a_running_ring_picks_up_a_rotation_by_another_process_without_being_asked(
    tmp_path: Path,
) -> None:
    """The contract: a `tollhouse keys rotate` reaches running servers within the reload
    interval, through the database alone, with no request handler calling for it."""
    url = f"sqlite:///{tmp_path / 'tollhouse.db'}"
    server, cli = await open_storage(url), await open_storage(url)
    ring = KeyRing(server, BOX, SystemClock(), reload_interval=1, signing_threads=0)
    running: asyncio.Task[None] | None = None
    try:
        old = await ring.ensure_key()
        running = asyncio.create_task(ring.run_forever())
        rotation = KeyRotation(
            cli, BOX, SystemClock(), retention=3900, lead_time=0, rotation_period=0
        )
        new = (await rotation.rotate("ES256")).key
        for _ in range(50):  # up to 5 s: the interval, rounding of the clock, the load
            if ring.signing_key().kid == new.kid:
                break
            await asyncio.sleep(0.1)
        assert ring.signing_key().kid == new.kid
        assert {k["kid"] for k in ring.jwks()["keys"]} == {old.kid, new.kid}
    finally:
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await server.close()
        await cli.close()


async def test_the_next_reload_is_due_after_the_interval_or_at_a_phase_change(
    generated: dict[str, SigningKey],
) -> None:
    clock, store = FrozenClock(NOW), FakeKeyStore(generated["ES256"])
    ring = KeyRing(store, BOX, clock, reload_interval=10)
    assert ring.seconds_to_reload() == 0  # never loaded
    await ring.load()
    assert ring.seconds_to_reload() == 10
    clock.advance(10)
    await store.add_key(generate("ES256", BOX, NOW + 10, activates_at=NOW + 13, generation=2))
    assert await due_reload(ring) is True
    assert ring.seconds_to_reload() == 3  # the rotated key activates then
    clock.advance(3)
    assert await due_reload(ring) is True
    assert ring.signing_key().kid != generated["ES256"].kid


def test_a_reload_interval_under_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        KeyRing(FakeKeyStore(), BOX, FrozenClock(), reload_interval=0)
