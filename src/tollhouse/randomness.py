"""High-entropy identifiers and bearer secrets, and how they are stored.

Bearer secrets (codes, refresh tokens, session ids, client secrets) are never stored
in clear: :func:`fingerprint` gives the SHA-256 lookup key for 256-bit random values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


def token(nbytes: int = 32) -> str:
    """A URL-safe random string with ``nbytes`` of entropy (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def identifier(nbytes: int = 16) -> str:
    """A non-guessable public identifier (client ids, subjects, jtis)."""
    return secrets.token_urlsafe(nbytes)


def ordered_identifier(nbytes: int = 12) -> str:
    """A unique public identifier that sorts by creation time: the milliseconds since
    the epoch in 11 hex digits, then ``nbytes`` of randomness (96 bits by default).

    For the keys of rows written on every grant (access token ``jti``s, refresh token
    families): a random key lands each insert on a random page of the primary-key
    index, so every commit rewrites as many index pages as it has rows; keys in
    creation order append to the last page. The time it shows is the token's ``iat``.
    """
    return f"{time.time_ns() // 1_000_000:011x}{secrets.token_urlsafe(nbytes)}"


def fingerprint(secret: str) -> str:
    """SHA-256 of a high-entropy secret, base64url; safe as a database key."""
    digest = hashlib.sha256(secret.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def equal(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
