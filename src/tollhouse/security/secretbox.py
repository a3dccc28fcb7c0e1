"""RFC 5116 §5.2 AEAD_AES_256_GCM: authenticated encryption of secrets at rest.

A sealed blob is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
The nonce is random (NIST SP 800-38D §8.2.2); at 2**32 seals per key the collision
risk stays below 2**-32, far beyond what a key store ever holds. The associated data
(AAD) binds a blob to its context — for a private signing key, its ``kid`` — so a blob
copied onto another record does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_SIZE = 32
"""Bytes in a master key (AES-256)."""

VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = 1 + _NONCE_SIZE
_DERIVE_INFO_PREFIX = b"tollhouse/derive/v1/"


class DecryptionError(Exception):
    """A blob did not open: tampered, truncated, another key, or another AAD.

    The cause is deliberately not distinguished (no decryption oracle).
    """


class SecretBox:
    """Seal and open small secrets under one 32-byte master key."""

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"the master key must be exactly {KEY_SIZE} bytes")
        self._key = key
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``; ``aad`` is authenticated, not stored."""
        nonce = os.urandom(_NONCE_SIZE)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Return the plaintext, or raise :class:`DecryptionError` if anything is off."""
        if len(blob) < _HEADER_SIZE + _TAG_SIZE or blob[0] != VERSION:
            raise DecryptionError("not a sealed blob of a supported version")
        nonce = blob[1:_HEADER_SIZE]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER_SIZE:], aad)
        except InvalidTag:
            raise DecryptionError("the blob does not open with this key and AAD") from None

    def derive(self, purpose: str) -> bytes:
        """RFC 5869 HKDF-SHA256 subkey (32 bytes) of the master key for ``purpose``.

        Distinct purposes give independent keys (e.g. ``"cookie-hmac"``), none of which
        reveals the master key or another purpose's key.
        """
        if not purpose:
            raise ValueError("a purpose is required")
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_SIZE,
            salt=None,
            info=_DERIVE_INFO_PREFIX + purpose.encode("utf-8"),
        )
        return hkdf.derive(self._key)
