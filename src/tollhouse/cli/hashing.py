"""Which argon2id cost profile the admin commands hash with.

``TOLLHOUSE_TEST_FAST_HASH=1`` exists **only to speed up test suites** that create many
users and clients through the CLI: it switches both profiles to
:meth:`~tollhouse.security.passwords.PasswordHasher.for_tests` (t=1, m=8 KiB), which is
far too cheap to protect a real password. Never set it on a deployment. Hashes made
with it still verify (argon2 reads the cost from the stored hash), and a login that
checks ``needs_rehash`` upgrades them to the production profile.
"""

from __future__ import annotations

import os

from tollhouse.security.passwords import PasswordHasher

FAST_HASH_ENV = "TOLLHOUSE_TEST_FAST_HASH"


def fast_hash_requested() -> bool:
    """True when the test-only switch is set (``1``, ``true`` or ``yes``)."""
    return os.environ.get(FAST_HASH_ENV, "").strip().lower() in ("1", "true", "yes")


def user_hasher() -> PasswordHasher:
    """RFC 9106 §4 profile for human-chosen passwords (test profile under the switch)."""
    return PasswordHasher.for_tests() if fast_hash_requested() else PasswordHasher.for_users()


def client_secret_hasher() -> PasswordHasher:
    """Cheap argon2id for 256-bit client secrets (test profile under the switch)."""
    if fast_hash_requested():
        return PasswordHasher.for_tests()
    return PasswordHasher.for_client_secrets()
