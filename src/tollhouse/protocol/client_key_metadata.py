"""Registration metadata about a client's keys and how it sends authorization requests
(RFC 7591 §2 ``jwks`` / ``jwks_uri``, RFC 9126 §6, RFC 9101 §10.5), for
:func:`tollhouse.protocol.client_metadata.validate` and the CLI alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tollhouse.errors import InvalidClientMetadata
from tollhouse.models import AuthMethod
from tollhouse.protocol.client_keys import KeySetError, parse_key_set

MAX_JWKS_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    jwks: str | None = None
    """The JWK Set as compact JSON text."""
    jwks_uri: str | None = None
    require_pushed_authorization_requests: bool = False
    require_signed_request_object: bool = False


def key_metadata(body: Mapping[str, Any], method: str, *, https_only: bool = True) -> KeyMetadata:
    """Check the key fields; ``private_key_jwt`` needs ``jwks`` or ``jwks_uri``.

    ``https_only``: a client registered over HTTP publishes its keys over https; an
    operator may choose an http ``jwks_uri`` on a network it trusts.
    """
    raw_jwks, jwks_uri = body.get("jwks"), body.get("jwks_uri")
    if raw_jwks is not None and jwks_uri is not None:
        raise InvalidClientMetadata(
            "jwks and jwks_uri must not both be given (RFC 7591 section 2)."
        )
    if method == AuthMethod.PRIVATE_KEY_JWT and raw_jwks is None and jwks_uri is None:
        raise InvalidClientMetadata(
            "token_endpoint_auth_method private_key_jwt needs the client's public keys: "
            "jwks or jwks_uri."
        )
    return KeyMetadata(
        jwks=None if raw_jwks is None else checked_jwks(raw_jwks),
        jwks_uri=None if jwks_uri is None else checked_jwks_uri(jwks_uri, https_only=https_only),
        require_pushed_authorization_requests=_flag(body, "require_pushed_authorization_requests"),
        require_signed_request_object=_flag(body, "require_signed_request_object"),
    )


def checked_jwks(value: Any) -> str:
    """A JWK Set of public signing keys, as the compact JSON text stored."""
    try:
        parse_key_set(value, strict=True)
    except KeySetError as exc:
        raise InvalidClientMetadata(f"jwks: {exc}.") from None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_JWKS_BYTES:
        raise InvalidClientMetadata(f"jwks is longer than {MAX_JWKS_BYTES} bytes.")
    return text


def checked_jwks_uri(value: Any, *, https_only: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidClientMetadata("jwks_uri must be a string.")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidClientMetadata("jwks_uri is not a valid URL.") from None
    schemes = ("https",) if https_only else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname or parts.fragment or len(value) > 2000:
        wanted = "an https" if https_only else "an http(s)"
        raise InvalidClientMetadata(f"jwks_uri must be {wanted} URL without a fragment.")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false.")
    return value
