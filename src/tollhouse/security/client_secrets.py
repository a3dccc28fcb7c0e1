"""Client secrets at rest: SHA-256 digests, compared in constant time (ADR 0006).

Tollhouse generates every client secret itself (``secrets.token_urlsafe(32)``: 256
bits of entropy). A slow password hash (argon2id, bcrypt) only helps a secret an
attacker can guess; nobody guesses 2**256, so a KDF would buy nothing and would make
the hash the largest cost of every confidential-client request. See
docs/adr/0006-client-secret-digest.md.

Stored form: ``sha256$<base64url(SHA-256(secret))>``, a plain digest, not an HMAC. For
a 256-bit random secret it is as strong as any keyed one (preimage resistance is all
that matters), and unlike a digest keyed by the master key it survives
``tollhouse keys rewrap``.

Two older forms still verify until the client's secret is rotated: ``hmac-sha256$…``
(HMAC under the master key's ``client-secrets`` subkey, written by a development
build), and argon2id PHC strings (``$argon2id$…``), checked by
:class:`~tollhouse.security.passwords.PasswordHasher` slowly, in a worker thread, as
many at once as the gate allows (security/hash_gate.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import anyio.to_thread

from tollhouse.security.hash_gate import HashGate
from tollhouse.security.passwords import PasswordHasher
from tollhouse.security.secretbox import SecretBox

PREFIX = "sha256$"
HMAC_PREFIX = "hmac-sha256$"
PURPOSE = "client-secrets"
"""The ``SecretBox.derive`` purpose of the HMAC key."""
_ARGON2_PREFIX = "$argon2id$"
_KEY_MIN = 32
_MAX_SECRET_BYTES = 1024
"""Longer presented secrets are refused without hashing (ours are 43 characters)."""


class ClientSecretHasher:
    """``hash()`` new client secrets as SHA-256 digests; ``verify()`` those and the
    older HMAC and argon2id rows."""

    __slots__ = ("_key", "_legacy")

    def __init__(self, key: bytes, *, legacy: PasswordHasher | None = None) -> None:
        if not isinstance(key, bytes) or len(key) < _KEY_MIN:
            raise ValueError(f"the client-secret key must be at least {_KEY_MIN} bytes")
        self._key = key
        self._legacy = legacy or PasswordHasher.for_client_secrets()

    def __repr__(self) -> str:
        return "ClientSecretHasher(<redacted>)"

    @classmethod
    def from_box(
        cls, box: SecretBox, *, legacy: PasswordHasher | None = None
    ) -> ClientSecretHasher:
        """The hasher, with the master key's ``client-secrets`` subkey (RFC 5869 HKDF)
        for the older HMAC rows; new secrets are plain digests."""
        return cls(box.derive(PURPOSE), legacy=legacy)

    def _mac(self, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    @staticmethod
    def _digest(secret: str) -> str:
        digest = hashlib.sha256(secret.encode("utf-8")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def hash(self, secret: str) -> str:
        """``sha256$<base64url>``; deterministic (no salt is needed for a 256-bit secret)."""
        return PREFIX + self._digest(secret)

    @staticmethod
    def is_legacy(stored_hash: str) -> bool:
        """True for an argon2id row: :meth:`verify` is then slow (run it off the loop)."""
        return isinstance(stored_hash, str) and stored_hash.startswith(_ARGON2_PREFIX)

    def verify(self, stored_hash: str, secret: str) -> bool:
        """True if ``secret`` matches ``stored_hash``; False otherwise, never raises."""
        if not isinstance(stored_hash, str) or not isinstance(secret, str):
            return False
        if len(secret) > _MAX_SECRET_BYTES:
            return False
        for prefix, digest in ((PREFIX, self._digest), (HMAC_PREFIX, self._mac)):
            if stored_hash.startswith(prefix):
                try:
                    presented = digest(secret)
                except UnicodeError:  # lone surrogates cannot be a secret we issued
                    return False
                # Constant time: the comparison reveals nothing of how much matched.
                return hmac.compare_digest(presented, stored_hash[len(prefix) :])
        if stored_hash.startswith(_ARGON2_PREFIX):
            return self._legacy.verify(stored_hash, secret)
        return False

    def dummy_verify(self) -> None:
        """Spend the time of one digest check (unknown client: no timing difference)."""
        self.verify(PREFIX + "A" * 43, secrets.token_urlsafe(32))


class ClientSecretVerifier:
    """The async face used by client authentication and registration.

    Digest and HMAC rows are checked inline (one SHA-256: cheaper than a hand-off to a
    thread); legacy argon2id rows go to a worker thread so the loop keeps serving,
    through ``gate`` when given, which bounds how many run at once.
    """

    __slots__ = ("_gate", "_hasher")

    def __init__(self, hasher: ClientSecretHasher, gate: HashGate | None = None) -> None:
        self._hasher = hasher
        self._gate = gate

    @property
    def hasher(self) -> ClientSecretHasher:
        return self._hasher

    async def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    async def verify(self, stored_hash: str, secret: str) -> bool:
        if self._hasher.is_legacy(stored_hash):
            if self._gate is not None:
                return await self._gate.run(self._hasher.verify, stored_hash, secret)
            return await anyio.to_thread.run_sync(self._hasher.verify, stored_hash, secret)
        return self._hasher.verify(stored_hash, secret)

    async def dummy_verify(self) -> None:
        self._hasher.dummy_verify()
