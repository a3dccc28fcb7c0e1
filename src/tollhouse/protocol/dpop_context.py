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
bound_certificate: ContextVar[str | None] = ContextVar("tollhouse_x5t", default=None)
"""RFC 8705 §3.1 ``x5t#S256`` of the client certificate of the request, if any."""


def bind(jkt: str | None, certificate: str | None = None) -> Callable[[], None]:
    """Set :data:`bound_key` and :data:`bound_certificate` for the grant about to run;
    returns the reset."""
    key_token = bound_key.set(jkt)
    cert_token = bound_certificate.set(certificate)

    def reset() -> None:
        bound_certificate.reset(cert_token)
        bound_key.reset(key_token)

    return reset


def confirmation() -> dict[str, str] | None:
    """The access token's ``cnf`` (RFC 7800): the DPoP key (RFC 9449 §6.1) or else the
    client certificate (RFC 8705 §3.1); None for a bearer token."""
    jkt = bound_key.get()
    if jkt is not None:
        return {"jkt": jkt}
    certificate = bound_certificate.get()
    return None if certificate is None else {"x5t#S256": certificate}


def checked_jkt(value: str | None) -> str | None:
    """RFC 9449 §10: ``dpop_jkt`` at /authorize, a SHA-256 JWK thumbprint."""
    if value is not None and not _JKT.fullmatch(value):
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint.")
    return value
