"""randomness.py: identifiers, bearer secrets and their fingerprints."""

from __future__ import annotations

import itertools
import re
import time

from tollhouse.randomness import fingerprint, identifier, ordered_identifier, token

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def test_ordered_identifiers_sort_in_creation_order_and_never_repeat() -> None:
    made = []
    for _ in range(5):
        made.extend(ordered_identifier() for _ in range(2_000))
        time.sleep(0.002)  # the next batch in a later millisecond
    assert len(set(made)) == len(made)
    batches = [made[n : n + 2_000] for n in range(0, len(made), 2_000)]
    for earlier, later in itertools.pairwise(batches):
        assert max(earlier) < min(later)
    assert all(URL_SAFE.fullmatch(value) and len(value) == 27 for value in made)


def test_an_ordered_identifier_shows_its_millisecond_and_96_random_bits() -> None:
    before = time.time_ns() // 1_000_000
    value = ordered_identifier()
    after = time.time_ns() // 1_000_000
    assert before <= int(value[:11], 16) <= after
    assert len(value[11:]) == 16  # 12 bytes of base64url


def test_identifiers_and_tokens_are_url_safe_and_distinct() -> None:
    values = [identifier() for _ in range(1_000)] + [token() for _ in range(1_000)]
    assert len(set(values)) == len(values)
    assert all(URL_SAFE.fullmatch(v) for v in values)
    assert len(token()) == 43 and len(identifier()) == 22


def test_a_fingerprint_is_the_base64url_sha256() -> None:
    assert fingerprint("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
