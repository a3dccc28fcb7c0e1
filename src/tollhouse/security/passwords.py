"""RFC 9106 §4 argon2id password hashing (argon2-cffi), in PHC string format.

Three cost profiles:

- :meth:`PasswordHasher.for_users` — RFC 9106 §4 second recommended option
  (t=3, m=64 MiB, p=4) for human-chosen passwords.
- :meth:`PasswordHasher.for_client_secrets` — client secrets are 256-bit random
  values, so brute force is hopeless whatever the cost; a cheap argon2id
  (t=1, m=8 MiB, p=1) keeps the token endpoint fast.
- :meth:`PasswordHasher.for_tests` — minimal cost. **Not for production.**

Hashing at the user profile takes tens of milliseconds of CPU: async callers should
run :meth:`~PasswordHasher.verify` in a worker thread, not on the event loop.
"""

from __future__ import annotations

import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

_PREFIX = "$argon2id$"
_HASH_LEN = 32
_SALT_LEN = 16


class PasswordHasher:
    """argon2id hashing with one fixed cost profile."""

    __slots__ = ("_dummy_hash", "_hasher")

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=_HASH_LEN,
            salt_len=_SALT_LEN,
            type=argon2.Type.ID,
        )
        self._dummy_hash: str | None = None

    @classmethod
    def for_users(cls) -> PasswordHasher:
        """RFC 9106 §4, second recommended option: t=3, m=64 MiB, p=4."""
        return cls(time_cost=3, memory_kib=64 * 1024, parallelism=4)

    @classmethod
    def for_client_secrets(cls) -> PasswordHasher:
        """Cheap argon2id for 256-bit random secrets: t=1, m=8 MiB, p=1."""
        return cls(time_cost=1, memory_kib=8 * 1024, parallelism=1)

    @classmethod
    def for_tests(cls) -> PasswordHasher:
        """Minimal cost (t=1, m=8 KiB, p=1) so tests run fast. Not for production."""
        return cls(time_cost=1, memory_kib=8, parallelism=1)

    def hash(self, password: str) -> str:
        """A PHC string ``$argon2id$v=19$m=…,t=…,p=…$salt$hash`` with a fresh salt."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True if ``password`` matches; False on mismatch or a malformed hash, never raises.

        Only argon2id hashes are accepted; the cost is taken from the stored hash.
        """
        if not isinstance(stored_hash, str) or not stored_hash.startswith(_PREFIX):
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            # VerifyMismatchError is a VerificationError; ValueError covers passwords
            # that cannot be encoded (lone surrogates) and out-of-range parameters.
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash was made with other parameters (or is not ours): rehash on login."""
        if not isinstance(stored_hash, str) or not stored_hash.startswith(_PREFIX):
            return True
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def dummy_verify(self) -> None:
        """Spend the time of one :meth:`verify`, for a username that does not exist.

        Answering "no such user" faster than "wrong password" would let an attacker
        enumerate accounts by timing. The reference hash is made once, on first use.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, secrets.token_urlsafe(16))
