"""RFC 8628 §6.1 user codes: short enough to type, hard enough to guess in time.

Eight letters from a 20-letter alphabet without vowels (no words spelt by chance) and
without look-alikes of digits: 20^8 ≈ 2.6·10^10 codes, about 34.6 bits. Shown as
``XXXX-XXXX``; typed in any case, with or without the dash or spaces around it.
Guessing is slowed at ``/device`` (web/device.py): 5 wrong codes a minute per address
and per browser, so a live code (at most 30 minutes) is out of reach.
"""

from __future__ import annotations

import secrets

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8
MAX_INPUT = 64
"""Longer input is refused before it is normalised."""


def generate() -> str:
    """A new code, ``XXXX-XXXX``."""
    letters = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return display(letters)


def display(letters: str) -> str:
    half = LENGTH // 2
    return f"{letters[:half]}-{letters[half:]}"


def normalize(typed: str | None) -> str | None:
    """The eight letters of what a person typed, or None if it cannot be a code.

    Case does not matter; spaces around it and one dash (or space) in the middle are
    dropped (RFC 8628 §6.1: "characters ... SHOULD be removed" when they are typical
    separators)."""
    if not typed or len(typed) > MAX_INPUT:
        return None
    letters = typed.strip().upper().replace("-", "").replace(" ", "")
    if len(letters) != LENGTH or any(ch not in ALPHABET for ch in letters):
        return None
    return letters
