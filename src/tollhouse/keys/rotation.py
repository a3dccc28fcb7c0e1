"""Key rotation: rotate, retire, the periodic check of running servers, and rewrap.

The phases themselves (pending → signing → retired → expired) are computed from the
records and the clock by :mod:`tollhouse.keys.lifecycle`, so every instance agrees
without talking to the others. What needs a decision is made here, and made safe for
many instances by the database, not by a lock in one process:

* Every new key is the next *generation* of its alg, stored by :func:`add_next_key`:
  a server's first key (``KeyRing.ensure_key``), a rotation by a server
  (:meth:`KeyRotation.rotate_due`) and one by ``tollhouse keys rotate`` alike.
  ``(alg, generation)`` is unique, so when several instances (or the CLI and an
  instance) add a key at the same moment exactly one insert succeeds and the others
  get ``Conflict`` and move on.
* :meth:`KeyRotation.settle` only writes what the clock already decided (a succeeded
  key's ``retired`` status, the deletion of a key whose tokens have all expired): every
  instance writes the same values, so running it twice is harmless.
* :func:`rewrap` replaces every ciphertext in one transaction, each row only if it
  still holds the ciphertext that was read (compare-and-swap).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tollhouse.algorithms import DEFAULT_RSA_KEY_BITS
from tollhouse.clock import Clock
from tollhouse.config import MAX_ACCESS_TOKEN_TTL, Settings
from tollhouse.errors import ConfigError, Conflict, NotFound
from tollhouse.keys.lifecycle import (
    DEFAULT_RETENTION,
    EXPIRED,
    PENDING,
    RETIRED,
    RETIRED_KEY_LEEWAY,
    SIGNING,
    STORED_ACTIVE,
    STORED_RETIRED,
    KeyPhase,
    activation_time,
    next_generation,
    phases,
)
from tollhouse.keys.material import generate
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import DecryptionError, SecretBox
from tollhouse.storage.ports import KeyStore

log = logging.getLogger("tollhouse.keys")

DAY = 24 * 3600
CHECK_INTERVAL = 60
"""Seconds between two checks of a running server (settle, automatic rotation)."""
REWRAP_PASSES = 3


def retention_for(settings: Settings) -> int:
    """How long a retired key stays published: the longest lifetime of a token it may
    have signed (access tokens are capped at ``MAX_ACCESS_TOKEN_TTL`` whatever a client's
    policy says; ID tokens live ``id_token_ttl``), plus leeway."""
    longest = max(MAX_ACCESS_TOKEN_TTL, settings.access_token_ttl, settings.id_token_ttl)
    return longest + RETIRED_KEY_LEEWAY


@dataclass(frozen=True, slots=True)
class Rotation:
    key: SigningKey
    """The new key: published now, signing from ``activates_at``."""
    replaces: tuple[SigningKey, ...]
    """The keys of its alg that stop signing (or never will) when it activates."""


async def add_next_key(
    store: KeyStore,
    box: SecretBox,
    alg: str,
    records: Sequence[SigningKey],
    now: int,
    *,
    lead_time: int,
    rsa_bits: int = DEFAULT_RSA_KEY_BITS,
    retention: int = DEFAULT_RETENTION,
) -> Rotation:
    """Generate and store the next generation of ``alg`` after ``records`` (the keys
    as read): published now, signing after ``lead_time`` seconds, or at once if nothing
    signs ``alg`` yet (no resource server caches a JWKS it must wait for).

    Raises ``Conflict`` if another instance stored that generation first: ``(alg,
    generation)`` is unique, so of concurrent callers exactly one key is stored.
    """
    if lead_time < 0:
        raise ValueError("lead_time must be 0 or more")
    views = phases(records, now, retention)
    if not any(view.signs and view.key.alg == alg for view in views):
        lead_time = 0
    key = await asyncio.to_thread(
        generate,
        alg,
        box,
        now,
        activates_at=now + lead_time,
        generation=next_generation(records, alg),
        rsa_bits=rsa_bits,
    )
    await store.add_key(key)
    replaced = tuple(
        view.key for view in views if view.key.alg == alg and view.phase in (SIGNING, PENDING)
    )
    return Rotation(key, replaced)


class KeyRotation:
    """Rotation decisions over a :class:`KeyStore`; used by the CLI and by servers."""

    def __init__(
        self,
        store: KeyStore,
        box: SecretBox,
        clock: Clock,
        *,
        retention: int,
        lead_time: int,
        rotation_period: int,
        rsa_bits: int = DEFAULT_RSA_KEY_BITS,
    ) -> None:
        """``rotation_period``: seconds after which a signing key is rotated
        automatically (0: never); ``lead_time``: default delay before a new key signs;
        ``rsa_bits``: the modulus of new RS256 keys."""
        self._store = store
        self._box = box
        self._clock = clock
        self.retention = retention
        self.lead_time = lead_time
        self.rotation_period = rotation_period
        self.rsa_bits = rsa_bits

    @classmethod
    def from_settings(
        cls, settings: Settings, store: KeyStore, box: SecretBox, clock: Clock
    ) -> KeyRotation:
        return cls(
            store,
            box,
            clock,
            retention=retention_for(settings),
            lead_time=settings.key_lead_time,
            rotation_period=settings.key_rotation_days * DAY,
            rsa_bits=settings.rsa_key_bits,
        )

    async def phases(self) -> list[KeyPhase]:
        """Every stored key with its phase now, newest first."""
        return phases(await self._store.list_keys(), self._clock.now(), self.retention)

    async def rotate(self, alg: str, lead_time: int | None = None) -> Rotation:
        """Store the next key of ``alg``: published now, signing after ``lead_time``.

        Raises ``Conflict`` if another rotation of ``alg`` stored the same generation
        at the same moment (that one stands; this one did nothing).
        """
        records = await self._store.list_keys()
        return await self._rotate(alg, records, self.lead_time if lead_time is None else lead_time)

    async def _rotate(self, alg: str, records: Sequence[SigningKey], lead_time: int) -> Rotation:
        rotation = await add_next_key(
            self._store,
            self._box,
            alg,
            records,
            self._clock.now(),
            lead_time=lead_time,
            rsa_bits=self.rsa_bits,
            retention=self.retention,
        )
        key = rotation.key
        log.info(
            "signing key rotated",
            extra={
                "event": "key_rotated",
                "kid": key.kid,
                "alg": alg,
                "generation": key.generation,
                "activates_at": key.activates_at,
                "replaces": [old.kid for old in rotation.replaces],
            },
        )
        return rotation

    async def retire(self, kid: str, *, force: bool = False) -> KeyPhase:
        """Stop signing with ``kid`` now; it stays published for ``retention`` seconds.

        Refuses (``Conflict``) the current signer of an alg unless ``force``: nothing
        would sign that alg until a server makes a new key. Rotate first instead.
        """
        now = self._clock.now()
        views = phases(await self._store.list_keys(), now, self.retention)
        view = next((v for v in views if v.key.kid == kid), None)
        if view is None:
            raise NotFound(f"no signing key {kid!r}")
        if view.phase in (RETIRED, EXPIRED):
            if view.key.status == STORED_ACTIVE:  # succeeded: write it down now
                await self._store.set_key_status(kid, STORED_RETIRED, view.retired_at or now)
            return view
        alg = view.key.alg
        if view.phase == SIGNING and not force:
            raise Conflict(
                f"{kid} is the current {alg} signing key; rotate first "
                f"(tollhouse keys rotate --alg {alg} --lead-time 0) or pass --force"
            )
        await self._store.set_key_status(kid, STORED_RETIRED, now)
        log.info("signing key retired", extra={"event": "key_retired", "kid": kid, "alg": alg})
        retired = replace(view.key, status=STORED_RETIRED, retired_at=now)
        return phases([retired], now, self.retention)[0]

    async def settle(self) -> tuple[int, int]:
        """Write down what the clock decided: a succeeded key becomes ``retired`` (at its
        successor's activation), and retired keys whose every token has expired are
        deleted. Returns (retired, deleted). Idempotent; any instance may run it."""
        now = self._clock.now()
        retired = 0
        for view in phases(await self._store.list_keys(), now, self.retention):
            if view.key.status == STORED_ACTIVE and view.retired_at is not None:
                await self._store.set_key_status(view.key.kid, STORED_RETIRED, view.retired_at)
                retired += 1
        deleted = await self._store.delete_retired_keys(now - self.retention)
        if retired or deleted:
            log.info(
                "signing keys settled",
                extra={"event": "keys_settled", "retired": retired, "deleted": deleted},
            )
        return retired, deleted

    async def rotate_due(self) -> list[Rotation]:
        """Automatic rotation: for each alg that signs, a new key once the signing key
        has signed for ``rotation_period`` seconds and no successor is pending."""
        if not self.rotation_period:
            return []
        records = await self._store.list_keys()
        now = self._clock.now()
        views = phases(records, now, self.retention)
        done: list[Rotation] = []
        for view in sorted((v for v in views if v.phase == SIGNING), key=lambda v: v.key.alg):
            alg = view.key.alg
            if any(v.phase == PENDING and v.key.alg == alg for v in views):
                continue
            if now - activation_time(view.key) < self.rotation_period:
                continue
            try:
                # The snapshot's next generation: an instance that rotated since then
                # holds it already, and this insert fails instead of adding a second key.
                done.append(await self._rotate(alg, records, self.lead_time))
            except Conflict:
                log.info("another instance rotated the %s key first", alg)
        return done

    async def run_once(self) -> None:
        await self.settle()
        await self.rotate_due()

    async def run_forever(self, interval: float = CHECK_INTERVAL) -> None:
        """The periodic check of a running server; failures are logged and retried."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("key rotation check failed; retrying after the next interval")


@dataclass(frozen=True, slots=True)
class Rewrap:
    rewrapped: tuple[str, ...]
    """Kids now encrypted under the new master key."""
    already: tuple[str, ...]
    """Kids that were encrypted under the new master key before (a second run)."""
    skipped: tuple[str, ...]
    """Retired kids that open with neither key: they are never decrypted again."""


async def rewrap(store: KeyStore, current: SecretBox, new: SecretBox) -> Rewrap:
    """Re-encrypt every stored private key from ``current`` to ``new`` in one transaction.

    A key stored by a rotation while this ran (still under ``current``) is picked up by
    another pass. Raises ``ConfigError`` (nothing changed) if an active key opens with
    neither master key, ``Conflict`` if the keys kept changing.
    """
    rewrapped: list[str] = []
    for _ in range(REWRAP_PASSES):
        replacements: dict[str, tuple[bytes, bytes]] = {}
        already: list[str] = []
        skipped: list[str] = []
        for key in await store.list_keys():
            aad = key.kid.encode("utf-8")
            try:
                plaintext = current.open(key.private_ciphertext, aad=aad)
            except DecryptionError:
                if opens(new, key):
                    already.append(key.kid)
                elif key.status == STORED_RETIRED:
                    skipped.append(key.kid)
                else:
                    raise ConfigError(
                        f"signing key {key.kid} opens with neither the current nor the new "
                        "master key; nothing was changed"
                    ) from None
                continue
            replacements[key.kid] = (key.private_ciphertext, new.seal(plaintext, aad=aad))
        if not replacements:
            earlier = tuple(kid for kid in already if kid not in rewrapped)
            return Rewrap(tuple(rewrapped), earlier, tuple(skipped))
        try:
            await store.replace_key_ciphertexts(replacements)
        except Conflict:
            continue  # a key changed under us; nothing was written: read again
        rewrapped.extend(replacements)
    raise Conflict("signing keys kept changing during the rewrap; run it again")


def opens(box: SecretBox, key: SigningKey) -> bool:
    """Does ``box`` decrypt the private key of ``key``?"""
    try:
        box.open(key.private_ciphertext, aad=key.kid.encode("utf-8"))
    except DecryptionError:
        return False
    return True
