"""Where each signing key is in its life: pending → signing → retired → expired.

A rotation stores a key of the next *generation* that is published in the JWKS at
once but signs only from its ``activates_at`` (the lead time), so resource servers
that cache the JWKS (RFC 7517 §5) hold it before they meet a token signed with it.
The key it replaces is retired the moment it activates and stays published for
``retention`` seconds (the longest token lifetime plus leeway), so every token it
signed still verifies until it expires; after that it is dropped from the JWKS, and
from the table by :mod:`tollhouse.keys.rotation`.

Everything here is computed from the stored records and the clock alone: every
instance reaches the same answer at the same moment without talking to the others.
The stored ``status`` catches up later (``KeyRotation.settle``); nothing waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tollhouse.config import MAX_ACCESS_TOKEN_TTL
from tollhouse.models import SigningKey

PENDING, SIGNING, RETIRED, EXPIRED, INACTIVE = (
    "pending",
    "signing",
    "retired",
    "expired",
    "inactive",
)
STORED_ACTIVE, STORED_RETIRED = "active", "retired"

RETIRED_KEY_LEEWAY = 300
"""Added to the longest token lifetime: clock skew between instances and resource
servers, the reload interval, and the resource servers' own ``exp`` leeway."""
DEFAULT_RETENTION = MAX_ACCESS_TOKEN_TTL + RETIRED_KEY_LEEWAY


@dataclass(frozen=True, slots=True)
class KeyPhase:
    key: SigningKey
    phase: str
    """``pending``, ``signing``, ``retired``, ``expired``, or ``inactive`` (an unknown
    stored status: never published)."""
    retired_at: int | None = None
    """When it stopped (or stops) signing: stored, or its successor's activation."""
    published_until: int | None = None
    """Retired keys: when the last token it signed has expired; then it is dropped."""

    @property
    def published(self) -> bool:
        return self.phase in (PENDING, SIGNING, RETIRED)

    @property
    def signs(self) -> bool:
        return self.phase == SIGNING

    @property
    def never_signed(self) -> bool:
        """A retired key superseded (or retired) before its activation: no token
        carries its kid, so "stops signing" would not be true of it."""
        if self.retired_at is None:
            return False
        return activation_time(self.key) >= self.retired_at


def activated(key: SigningKey, now: int) -> bool:
    """Has ``key`` reached its activation time? (None: from the start.)"""
    return key.activates_at is None or key.activates_at <= now


def activation_time(key: SigningKey) -> int:
    return key.created_at if key.activates_at is None else key.activates_at


def newest_first(keys: Iterable[SigningKey]) -> list[SigningKey]:
    """Keys of one alg in the reverse order of their rotations: by generation (the
    clocks of the instances that made them may disagree, the generation does not), then
    creation, then kid so that every instance breaks ties alike. A key stored without a
    generation counts as the latest generation made before it."""
    ranked: list[tuple[tuple[int, int, str], SigningKey]] = []
    latest = 0
    for key in sorted(keys, key=lambda k: (k.created_at, k.generation or 0, k.kid)):
        generation = latest if key.generation is None else key.generation
        latest = max(latest, generation)
        ranked.append(((generation, key.created_at, key.kid), key))
    return [key for _, key in sorted(ranked, key=lambda item: item[0], reverse=True)]


def next_generation(keys: Iterable[SigningKey], alg: str) -> int:
    return max((k.generation or 0 for k in keys if k.alg == alg), default=0) + 1


def phases(keys: Iterable[SigningKey], now: int, retention: int) -> list[KeyPhase]:
    """The phase of every key at ``now``, in the order given.

    Per alg, the signer is the highest-ranked active key that has activated. An active
    key ranked below one that has ever signed is retired from that one's activation (it
    was succeeded), even while its stored status still says ``active``, and even if
    that successor was retired since: a succeeded key never signs again.
    """
    given = list(keys)
    found: dict[str, KeyPhase] = {}
    for alg in {key.alg for key in given}:
        succeeded_at: int | None = None
        """Earliest activation among the higher-ranked activated keys seen so far."""
        for key in newest_first(k for k in given if k.alg == alg):
            if key.status == STORED_RETIRED:
                retired_at = key.created_at if key.retired_at is None else key.retired_at
                found[key.kid] = _retired(key, retired_at, now, retention)
            elif key.status != STORED_ACTIVE:
                found[key.kid] = KeyPhase(key, INACTIVE)
            elif succeeded_at is not None:
                # Stable over time: later activations only happen later, so the
                # minimum is fixed once a successor is live.
                found[key.kid] = _retired(key, succeeded_at, now, retention)
            elif activated(key, now):
                found[key.kid] = KeyPhase(key, SIGNING)
            else:
                found[key.kid] = KeyPhase(key, PENDING)
            if _has_signed(key, now):
                start = activation_time(key)
                succeeded_at = start if succeeded_at is None else min(succeeded_at, start)
    return [found[key.kid] for key in given]


def _has_signed(key: SigningKey, now: int) -> bool:
    """Has ``key`` reached its activation (a retired one: before it was retired)?"""
    if key.status == STORED_ACTIVE:
        return activated(key, now)
    if key.status == STORED_RETIRED:
        retired_at = key.created_at if key.retired_at is None else key.retired_at
        return activation_time(key) <= min(retired_at, now)
    return False


def _retired(key: SigningKey, retired_at: int, now: int, retention: int) -> KeyPhase:
    until = retired_at + retention
    return KeyPhase(key, RETIRED if now < until else EXPIRED, retired_at, until)


def next_change(views: Iterable[KeyPhase], now: int) -> int | None:
    """The next moment a phase changes by the clock alone (an activation, or a
    retired key's end of publication), if any."""
    moments = [
        moment
        for view in views
        for moment in (
            view.key.activates_at if view.phase == PENDING else None,
            view.published_until if view.phase == RETIRED else None,
        )
        if moment is not None and moment > now
    ]
    return min(moments, default=None)
