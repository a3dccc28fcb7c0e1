"""The DPoP key of the token request being served (RFC 9449 §5).

The token endpoint checks the proof once, before any grant, and sets :data:`bound_key`
for the grant it dispatches to. The access-token issuer (``cnf.jkt``, §6.1) and the
refresh-family builder read it, so every grant, present or future, binds its tokens
without passing the key through each of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from tollhouse.errors import InvalidRequest

_JKT: Final = re.compile(r"[A-Za-z0-9_-]{43}")
"""An RFC 7638 SHA-256 thumbprint in base64url: 32 octets, 43 characters."""

bound_key: ContextVar[str | None] = ContextVar("tollhouse_dpop_jkt", default=None)
"""The proved key's RFC 7638 thumbprint; None: a bearer request."""


def bind(jkt: str | None) -> Callable[[], None]:
    """Set :data:`bound_key` for the grant about to run; returns the reset."""
    token = bound_key.set(jkt)
    return lambda: bound_key.reset(token)


def checked_jkt(value: str | None) -> str | None:
    """RFC 9449 §10: ``dpop_jkt`` at /authorize, a SHA-256 JWK thumbprint."""
    if value is not None and not _JKT.fullmatch(value):
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint.")
    return value
