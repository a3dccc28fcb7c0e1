"""Key phases, computed from the records and the clock alone: publish before signing,
retire on the successor's activation, drop once every token it signed has expired.

RFC 7517 §5 lets a JWK Set hold keys that do not sign yet; resource servers cache it,
so a key must be published before the first token it signs, and stay published until
the last token it signed has expired.
"""

from __future__ import annotations

import dataclasses

from tollhouse.keys.lifecycle import (
    EXPIRED,
    INACTIVE,
    PENDING,
    RETIRED,
    SIGNING,
    next_change,
    phases,
)
from tollhouse.models import SigningKey

NOW = 1_800_000_000
RETENTION = 3900
LEAD = 3600


def key(
    kid: str,
    *,
    generation: int | None = None,
    created_at: int = NOW,
    activates_at: int | None = None,
    status: str = "active",
    retired_at: int | None = None,
    alg: str = "ES256",
) -> SigningKey:
    return SigningKey(
        kid=kid,
        alg=alg,
        public_jwk={"kid": kid},
        private_ciphertext=b"",
        created_at=created_at,
        status=status,
        retired_at=retired_at,
        activates_at=activates_at,
        generation=generation,
    )


def phase_of(keys: list[SigningKey], now: int) -> dict[str, str]:
    return {view.key.kid: view.phase for view in phases(keys, now, RETENTION)}


def test_a_rotated_key_is_published_before_it_signs() -> None:
    old = key("old", generation=1)
    new = key("new", generation=2, activates_at=NOW + LEAD)
    assert phase_of([old, new], NOW) == {"old": SIGNING, "new": PENDING}
    assert phase_of([old, new], NOW + LEAD - 1) == {"old": SIGNING, "new": PENDING}


def test_the_old_key_retires_when_the_new_one_activates() -> None:
    old = key("old", generation=1)
    new = key("new", generation=2, activates_at=NOW + LEAD)
    views = {v.key.kid: v for v in phases([old, new], NOW + LEAD, RETENTION)}
    assert views["new"].phase == SIGNING
    assert views["old"].phase == RETIRED
    assert views["old"].retired_at == NOW + LEAD
    assert views["old"].published_until == NOW + LEAD + RETENTION


def test_a_retired_key_is_dropped_once_every_token_it_signed_has_expired() -> None:
    old = key("old", generation=1)
    new = key("new", generation=2, activates_at=NOW)
    assert phase_of([old, new], NOW + RETENTION - 1)["old"] == RETIRED
    assert phase_of([old, new], NOW + RETENTION)["old"] == EXPIRED
    stored = key("gone", status="retired", retired_at=NOW)
    assert phase_of([stored], NOW + RETENTION - 1) == {"gone": RETIRED}
    assert phase_of([stored], NOW + RETENTION) == {"gone": EXPIRED}


def test_generation_orders_rotations_not_activation_time() -> None:
    """An emergency rotation (lead time 0) wins over a pending one made before it."""
    old = key("old", generation=1)
    pending = key("pending", generation=2, activates_at=NOW + LEAD)
    emergency = key("emergency", generation=3, activates_at=NOW + 10)
    assert phase_of([old, pending, emergency], NOW + 10) == {
        "old": RETIRED,
        "pending": RETIRED,
        "emergency": SIGNING,
    }
    assert phase_of([old, pending, emergency], NOW + LEAD)["emergency"] == SIGNING


def test_cancelling_a_pending_key_keeps_the_current_signer() -> None:
    old = key("old", generation=1)
    cancelled = key("new", generation=2, activates_at=NOW + 5, status="retired", retired_at=NOW)
    assert phase_of([old, cancelled], NOW + 10) == {"old": SIGNING, "new": RETIRED}


def test_keys_without_generation_or_activation_keep_the_newest_signing() -> None:
    older, newer = key("older", created_at=NOW - 100), key("newer", created_at=NOW)
    views = {v.key.kid: v for v in phases([older, newer], NOW, RETENTION)}
    assert (views["newer"].phase, views["older"].phase) == (SIGNING, RETIRED)
    assert views["older"].retired_at == NOW


def test_each_alg_has_its_own_signer_and_unknown_statuses_are_never_published() -> None:
    keys = [key("es", generation=1), key("rs", generation=1, alg="RS256"), key("x", status="bad")]
    assert phase_of(keys, NOW) == {"es": SIGNING, "rs": SIGNING, "x": INACTIVE}


def test_next_change_is_the_next_activation_or_end_of_publication() -> None:
    old = key("old", generation=1)
    new = key("new", generation=2, activates_at=NOW + 50)
    assert next_change(phases([old, new], NOW, RETENTION), NOW) == NOW + 50
    assert next_change(phases([old, new], NOW + 50, RETENTION), NOW + 50) == NOW + 50 + RETENTION
    assert next_change(phases([old], NOW, RETENTION), NOW) is None


def test_a_succeeded_key_never_signs_again_when_its_successor_is_retired() -> None:
    """Rotate at once, then retire the new key too (compromised): the old key stays
    retired; nothing signs until a new key is made."""
    old = key("old", generation=1)
    new = key("new", generation=2, activates_at=NOW + 5, status="retired", retired_at=NOW + 60)
    assert phase_of([old, new], NOW + 61) == {"old": RETIRED, "new": RETIRED}
    views = {v.key.kid: v for v in phases([old, new], NOW + 61, RETENTION)}
    assert views["old"].retired_at == NOW + 5


def test_a_key_stored_without_a_generation_ranks_after_those_made_before_it() -> None:
    """Keys written by hand (or by older code) still take over from the one before."""
    first = key("first", generation=1, created_at=NOW)
    later = key("later", created_at=NOW + 1)
    assert phase_of([first, later], NOW + 2) == {"first": RETIRED, "later": SIGNING}
    retired_first = dataclasses.replace(first, status="retired", retired_at=NOW + 1)
    assert phase_of([retired_first, later], NOW + 2) == {"first": RETIRED, "later": SIGNING}
