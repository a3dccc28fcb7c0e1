"""Checking a user's password without revealing which usernames exist."""

from __future__ import annotations

from tollhouse.models import User
from tollhouse.protocol.client_auth import SecretVerifier
from tollhouse.storage.ports import UserStore

MAX_PASSWORD_LENGTH = 1024


class PasswordLogin:
    def __init__(self, users: UserStore, verifier: SecretVerifier) -> None:
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
        return user
