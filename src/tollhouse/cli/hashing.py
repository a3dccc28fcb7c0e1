"""How the admin commands hash: argon2id profiles for passwords, HMAC for client secrets.

``TOLLHOUSE_TEST_FAST_HASH=1`` exists **only to speed up test suites** that create many
users through the CLI: it switches the user password profile to
:meth:`~tollhouse.security.passwords.PasswordHasher.for_tests` (t=1, m=8 KiB), which is
far too cheap to protect a real password. Never set it on a deployment. Hashes made
with it still verify (argon2 reads the cost from the stored hash), and the user's next
correct sign-in re-hashes the password with the production profile
(:class:`~tollhouse.protocol.login.PasswordLogin`).
"""

from __future__ import annotations

import os

from tollhouse.cli.context import fail
from tollhouse.config import Settings
from tollhouse.errors import ConfigError
from tollhouse.security.client_secrets import ClientSecretHasher
from tollhouse.security.master_key import load_master_key
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox

FAST_HASH_ENV = "TOLLHOUSE_TEST_FAST_HASH"


def fast_hash_requested() -> bool:
    """True when the test-only switch is set (``1``, ``true`` or ``yes``)."""
    return os.environ.get(FAST_HASH_ENV, "").strip().lower() in ("1", "true", "yes")


def user_hasher() -> PasswordHasher:
    """RFC 9106 §4 profile for human-chosen passwords (test profile under the switch)."""
    return PasswordHasher.for_tests() if fast_hash_requested() else PasswordHasher.for_users()


def client_secret_hasher(settings: Settings) -> ClientSecretHasher:
    """HMAC-SHA-256 under the master key's ``client-secrets`` subkey, exactly as ``serve``
    verifies (security/client_secrets.py, ADR 0006): the master key is loaded (or, on
    first use, created) the same way. Already fast: the test switch does not apply."""
    try:
        master = load_master_key(settings.master_key, settings.data_dir)
    except ConfigError as exc:
        fail(str(exc))
    return ClientSecretHasher.from_box(SecretBox(master.key))
