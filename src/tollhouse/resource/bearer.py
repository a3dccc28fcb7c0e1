"""RFC 6750 §2.1: the access token in the ``Authorization: Bearer`` request header, or
RFC 9449 §7.1's ``Authorization: DPoP``."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Final

from tollhouse.resource.errors import invalid_request, missing_token

_B64TOKEN_CHARS: Final = (string.ascii_letters + string.digits + "-._~+/").encode("ascii")
"""RFC 6750 §2.1 ``b64token``: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
*"=". Checked with ``bytes.translate``, a table lookup per octet, where a regular
expression spends several times that on a token of a few hundred octets."""


def is_b64token(token: str) -> bool:
    """Whether ``token`` is an RFC 6750 §2.1 ``b64token``."""
    body = token.rstrip("=")
    return (
        bool(body) and token.isascii() and not body.encode("ascii").translate(None, _B64TOKEN_CHARS)
    )


def bearer_token(authorization: Sequence[str]) -> str:
    """The token from the ``Authorization`` header values of one request.

    No header, or another scheme (e.g. Basic): the "missing" error (401, no error code,
    RFC 6750 §3.1). Several headers or a malformed value: ``invalid_request`` (400).
    """
    return presented_token(authorization, ("bearer",))[1]


def presented_token(
    authorization: Sequence[str], schemes: Sequence[str] = ("bearer", "dpop")
) -> tuple[str, str]:
    """The scheme (lower case, one of ``schemes``: RFC 6750 ``bearer``, RFC 9449 §7.1
    ``dpop``) and the token of a request's ``Authorization`` header values."""
    if not authorization:
        raise missing_token()
    if len(authorization) > 1:
        raise invalid_request("The request carries more than one Authorization header.")
    scheme, _, credentials = authorization[0].strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in schemes:
        raise missing_token()
    token = credentials.lstrip(" ")
    if not token:
        raise invalid_request("The Authorization header has no access token.")
    if not is_b64token(token):
        raise invalid_request("The access token in the Authorization header is malformed.")
    return scheme, token


def header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every value of one header in ASGI ``scope["headers"]`` (names are lower case)."""
    return [value.decode("latin-1") for key, value in headers if key == name]
