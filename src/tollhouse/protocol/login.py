"""Checking a user's password without revealing which usernames exist, and bringing
its stored hash up to the configured argon2id parameters once the password is known."""

from __future__ import annotations

import logging
from typing import Protocol

from tollhouse.models import User
from tollhouse.protocol.client_auth import SecretVerifier
from tollhouse.storage.ports import UserStore

MAX_PASSWORD_LENGTH = 1024

log = logging.getLogger("tollhouse.security")


class PasswordHashes(SecretVerifier, Protocol):
    """Verifies and makes user password hashes; the argon2 work runs off the event loop."""

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash was made with other parameters than the configured ones."""

    async def hash(self, password: str) -> str:
        """A new hash of ``password`` with the configured parameters."""


class PasswordLogin:
    def __init__(self, users: UserStore, verifier: PasswordHashes) -> None:
        self._users = users
        self._verifier = verifier

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user, or ``None``; an unknown username costs the same time as a wrong
        password (no user enumeration by timing)."""
        if not username or not password or len(password) > MAX_PASSWORD_LENGTH:
            return None
        user = await self._users.get_user_by_username(username)
        if user is None:
            await self._verifier.dummy_verify()
            return None
        if not await self._verifier.verify(user.password_hash, password):
            return None
        if self._verifier.needs_rehash(user.password_hash):
            await self._upgrade(user, password)
        return user

    async def _upgrade(self, user: User, password: str) -> None:
        """Re-hash a correct password made with other (older or cheaper) parameters.

        A sign-in is the only time the server holds the password, so this is where a
        hash reaches parameters raised since it was made (RFC 9106 §4 leaves the cost to
        the deployment). The store replaces the hash only if it is still the one just
        verified, so a password changed meanwhile stays. The sign-in never depends on
        it: a failure is logged and the next sign-in tries again.
        """
        try:
            new_hash = await self._verifier.hash(password)
            await self._users.upgrade_password_hash(user.user_id, user.password_hash, new_hash)
        except Exception as exc:
            log.warning(
                "password hash not upgraded",
                extra={
                    "event": "password_rehash_failed",
                    "user_id": user.user_id,
                    "error": type(exc).__name__,
                },
            )
