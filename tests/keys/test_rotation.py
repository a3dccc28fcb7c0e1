"""Key rotation: one winner among instances, automatic rotation, settle, retire, and
master-key rewrap; and what a running ring makes of a rotation."""

from __future__ import annotations

import base64
import dataclasses
import logging

import pytest

from tests.keys.fakes import BOX, NEW_BOX, NOW, due_reload
from tollhouse.clock import FrozenClock
from tollhouse.config import load_settings
from tollhouse.errors import ConfigError, Conflict, NotFound
from tollhouse.keys import KeyRing, generate
from tollhouse.keys.lifecycle import RETIRED
from tollhouse.keys.rotation import DAY, KeyRotation, retention_for, rewrap
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import SecretBox
from tollhouse.storage.memory import MemoryStorage

RETENTION = 3900
LEAD = 3600


def test_retention_covers_the_longest_token_lifetime_plus_leeway() -> None:
    assert retention_for(load_settings()) == 3600 + 300
    assert retention_for(load_settings(id_token_ttl=7200)) == 7200 + 300


# --- KeyRing: what a running server publishes and signs with -----------------------


async def rotated_ring(lead: int = LEAD) -> tuple[KeyRing, KeyRotation, FrozenClock, str, str]:
    clock = FrozenClock(NOW)
    store = MemoryStorage()
    ring = KeyRing(store, BOX, clock, reload_interval=10, retention=RETENTION)
    old = await ring.ensure_key()
    rotation = rotation_for(store, clock)
    new = (await rotation.rotate("ES256", lead)).key
    return ring, rotation, clock, old.kid, new.kid


def rotation_for(
    store: MemoryStorage, clock: FrozenClock, *, period: int = 90 * DAY, box: SecretBox = BOX
) -> KeyRotation:
    return KeyRotation(
        store, box, clock, retention=RETENTION, lead_time=LEAD, rotation_period=period
    )


def published(ring: KeyRing) -> set[str]:
    return {k["kid"] for k in ring.jwks()["keys"]}


async def test_ring_publishes_the_next_key_at_once_and_signs_with_it_after_the_lead() -> None:
    ring, _, clock, old, new = await rotated_ring()
    clock.advance(10)
    assert await due_reload(ring) is True
    assert published(ring) == {old, new}
    assert ring.signing_key().kid == old

    clock.advance(LEAD - 10)
    assert await due_reload(ring) is True
    assert ring.signing_key().kid == new
    assert published(ring) == {old, new}


async def test_ring_reloads_at_the_activation_moment_not_a_whole_interval_later() -> None:
    ring, _, clock, old, new = await rotated_ring(lead=3)
    await ring.load()
    assert ring.signing_key().kid == old
    clock.advance(3)  # the reload interval is 10 s
    assert await due_reload(ring) is True
    assert ring.signing_key().kid == new


async def test_ring_drops_the_retired_key_after_the_retention() -> None:
    ring, _, clock, old, new = await rotated_ring(lead=0)
    await ring.load()
    assert ring.signing_key().kid == new and published(ring) == {old, new}
    clock.advance(RETENTION)
    await ring.load()
    assert published(ring) == {new}
    assert ring.verify_jwt(ring.sign_jwt({"a": 1}, typ="JWT")) is not None


async def test_instances_starting_together_create_one_key() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    rings = [KeyRing(store, BOX, clock) for _ in range(2)]
    winner = await rings[0].ensure_key()
    # The second instance read an empty table before the first one's insert landed.
    late = KeyRing(_Stale(store), BOX, clock)
    assert (await late.ensure_key()).kid == winner.kid
    assert [k.kid for k in await store.list_keys()] == [winner.kid]


class _Stale(MemoryStorage):
    """A store whose first listing is from before another instance's insert."""

    def __init__(self, real: MemoryStorage) -> None:
        super().__init__()
        self._real = real
        self._listings = 0

    async def list_keys(self) -> list[SigningKey]:
        self._listings += 1
        return [] if self._listings <= 2 else await self._real.list_keys()

    async def add_key(self, key: SigningKey) -> None:
        await self._real.add_key(key)


async def test_ring_keeps_its_keys_when_they_are_rewrapped_under_another_master_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, store = FrozenClock(NOW), MemoryStorage()
    ring = KeyRing(store, BOX, clock)
    current = await ring.ensure_key()
    await rewrap(store, BOX, NEW_BOX)
    with caplog.at_level(logging.WARNING, logger="tollhouse.keys"):
        await ring.load()
    assert "re-encrypted under another master key" in caplog.text
    assert ring.signing_key().kid == current.kid
    restarted = KeyRing(store, NEW_BOX, clock)
    await restarted.load()
    assert restarted.signing_key().kid == current.kid


# --- KeyRotation: decisions, safe with many instances --------------------------------


async def test_rotation_of_an_alg_that_does_not_sign_yet_signs_at_once() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    rotation = await rotation_for(store, clock).rotate("ES256", LEAD)
    assert rotation.key.activates_at == NOW and rotation.replaces == ()
    assert rotation.key.generation == 1


async def test_rotation_makes_rsa_keys_of_the_configured_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOLLHOUSE_RSA_KEY_BITS", "3072")
    settings = load_settings()
    store, clock = MemoryStorage(), FrozenClock(NOW)
    key = (await KeyRotation.from_settings(settings, store, BOX, clock).rotate("RS256")).key
    modulus = base64.urlsafe_b64decode(key.public_jwk["n"] + "==")
    assert int.from_bytes(modulus, "big").bit_length() == 3072


@pytest.mark.parametrize("bits", [1024, 2000, 3000, 8192])
def test_rsa_key_sizes_other_than_2048_3072_4096_are_refused_at_start(bits: int) -> None:
    with pytest.raises(ConfigError, match=r"rsa_key_bits.*2048, 3072, 4096"):
        load_settings(rsa_key_bits=bits)


async def test_two_rotations_from_one_snapshot_store_one_key() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    await KeyRing(store, BOX, clock).ensure_key()
    first, second = rotation_for(store, clock), rotation_for(store, clock)
    snapshot = await store.list_keys()
    await first._rotate("ES256", snapshot, LEAD)
    with pytest.raises(Conflict, match="generation 2"):
        await second._rotate("ES256", snapshot, LEAD)
    assert len(await store.list_keys()) == 2


async def test_automatic_rotation_happens_once_the_period_is_over() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    ring = KeyRing(store, BOX, clock)
    first = await ring.ensure_key()
    rotation = rotation_for(store, clock, period=90 * DAY)
    clock.advance(90 * DAY - 1)
    assert await rotation.rotate_due() == []
    clock.advance(1)
    [done] = await rotation.rotate_due()
    assert done.replaces == (first,)
    assert done.key.activates_at == clock.now() + LEAD
    assert await rotation.rotate_due() == []  # a successor is pending: nothing more
    clock.advance(LEAD)
    await ring.load()
    assert ring.signing_key().kid == done.key.kid


async def test_instances_due_at_the_same_moment_rotate_once() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    await KeyRing(store, BOX, clock).ensure_key()
    clock.advance(90 * DAY)
    # Both listed the keys before either inserted: the unique generation picks one.
    stale = _Frozen(store, await store.list_keys())
    instances = [rotation_for(stale, clock), rotation_for(stale, clock)]
    results = [await instance.rotate_due() for instance in instances]
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(await store.list_keys()) == 2


class _Frozen(MemoryStorage):
    """Lists a fixed snapshot; writes go to the real store."""

    def __init__(self, real: MemoryStorage, snapshot: list[SigningKey]) -> None:
        super().__init__()
        self._real, self._snapshot = real, snapshot

    async def list_keys(self) -> list[SigningKey]:
        return list(self._snapshot)

    async def add_key(self, key: SigningKey) -> None:
        await self._real.add_key(key)


async def test_automatic_rotation_can_be_turned_off() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    await KeyRing(store, BOX, clock).ensure_key()
    clock.advance(1000 * DAY)
    assert await rotation_for(store, clock, period=0).rotate_due() == []


async def test_settle_records_retirements_and_deletes_expired_keys() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    old = await KeyRing(store, BOX, clock).ensure_key()
    rotation = rotation_for(store, clock)
    new = (await rotation.rotate("ES256", 60)).key
    assert await rotation.settle() == (0, 0)
    clock.advance(60)
    assert await rotation.settle() == (1, 0)
    stored = {k.kid: k for k in await store.list_keys()}
    assert (stored[old.kid].status, stored[old.kid].retired_at) == ("retired", NOW + 60)
    assert await rotation.settle() == (0, 0)  # idempotent
    clock.advance(RETENTION)
    assert await rotation.settle() == (0, 1)
    assert [k.kid for k in await store.list_keys()] == [new.kid]


async def test_retire_refuses_the_signing_key_unless_forced() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    current = await KeyRing(store, BOX, clock).ensure_key()
    rotation = rotation_for(store, clock)
    with pytest.raises(Conflict, match="rotate first"):
        await rotation.retire(current.kid)
    view = await rotation.retire(current.kid, force=True)
    assert (view.phase, view.published_until) == (RETIRED, NOW + RETENTION)
    with pytest.raises(NotFound):
        await rotation.retire("nope")


async def test_retiring_a_pending_key_cancels_the_rotation() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    ring = KeyRing(store, BOX, clock)
    current = await ring.ensure_key()
    rotation = rotation_for(store, clock)
    pending = (await rotation.rotate("ES256")).key
    assert (await rotation.retire(pending.kid)).phase == RETIRED
    clock.advance(LEAD)
    await ring.load()
    assert ring.signing_key().kid == current.kid


# --- rewrap ---------------------------------------------------------------------------


async def test_rewrap_reencrypts_every_key_and_a_second_run_changes_nothing() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    first = await KeyRing(store, BOX, clock).ensure_key()
    second = (await rotation_for(store, clock).rotate("ES256")).key
    done = await rewrap(store, BOX, NEW_BOX)
    assert sorted(done.rewrapped) == sorted([first.kid, second.kid])
    for stored in await store.list_keys():
        assert NEW_BOX.open(stored.private_ciphertext, aad=stored.kid.encode())
    again = await rewrap(store, BOX, NEW_BOX)
    assert (again.rewrapped, sorted(again.already)) == ((), sorted([first.kid, second.kid]))


async def test_rewrap_changes_nothing_if_an_active_key_opens_with_neither_key() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    mine = await KeyRing(store, BOX, clock).ensure_key()
    foreign = generate("ES256", SecretBox(b"\x09" * 32), NOW, generation=9)
    await store.add_key(foreign)
    with pytest.raises(ConfigError, match=foreign.kid):
        await rewrap(store, BOX, NEW_BOX)
    stored = {k.kid: k for k in await store.list_keys()}
    assert stored[mine.kid].private_ciphertext == mine.private_ciphertext


async def test_rewrap_skips_retired_keys_of_an_older_master_key() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    await KeyRing(store, BOX, clock).ensure_key()
    ancient = generate("ES256", SecretBox(b"\x09" * 32), NOW - 10, generation=0)
    await store.add_key(dataclasses.replace(ancient, status="retired", retired_at=NOW - 5))
    done = await rewrap(store, BOX, NEW_BOX)
    assert done.skipped == (ancient.kid,) and len(done.rewrapped) == 1


async def test_rewrap_picks_up_a_key_stored_by_a_rotation_meanwhile() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    await KeyRing(store, BOX, clock).ensure_key()
    late = generate("ES256", BOX, NOW + 1, generation=5)

    class Racing(MemoryStorage):
        """Another instance rotates (under the old master key) during the rewrap."""

        async def list_keys(self) -> list[SigningKey]:
            return await store.list_keys()

        async def replace_key_ciphertexts(
            self, replacements: dict[str, tuple[bytes, bytes]]
        ) -> None:
            await store.replace_key_ciphertexts(replacements)
            if late.kid not in replacements:
                await store.add_key(late)

    done = await rewrap(Racing(), BOX, NEW_BOX)
    assert late.kid in done.rewrapped and len(done.rewrapped) == 2
    for stored in await store.list_keys():
        assert NEW_BOX.open(stored.private_ciphertext, aad=stored.kid.encode())


async def test_retiring_a_succeeded_key_writes_its_retirement_down() -> None:
    store, clock = MemoryStorage(), FrozenClock(NOW)
    old = await KeyRing(store, BOX, clock).ensure_key()
    rotation = rotation_for(store, clock)
    await rotation.rotate("ES256", 0)
    clock.advance(5)
    view = await rotation.retire(old.kid)
    assert (view.phase, view.retired_at) == (RETIRED, NOW)
    [stored] = [k for k in await store.list_keys() if k.kid == old.kid]
    assert (stored.status, stored.retired_at) == ("retired", NOW)
