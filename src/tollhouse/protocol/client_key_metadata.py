"""Registration metadata about a client's keys and how it sends authorization requests
(RFC 7591 §2 ``jwks`` / ``jwks_uri``, RFC 9126 §6, RFC 9101 §10.5, RFC 8705 §2.1.2
``tls_client_auth_*``), for
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
from tollhouse.protocol.tls_client_auth import NAME_KINDS, check_name

MAX_JWKS_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    jwks: str | None = None
    """The JWK Set as compact JSON text."""
    jwks_uri: str | None = None
    require_pushed_authorization_requests: bool = False
    require_signed_request_object: bool = False
    tls_client_auth_kind: str | None = None
    """``subject_dn`` or ``san_*``: the name a ``tls_client_auth`` certificate carries."""
    tls_client_auth_name: str | None = None


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
    keyed = (AuthMethod.PRIVATE_KEY_JWT, AuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH)
    if method in keyed and raw_jwks is None and jwks_uri is None:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method {method} needs the client's public keys: jwks or jwks_uri."
        )
    kind, name = tls_name(body, method)
    return KeyMetadata(
        jwks=None if raw_jwks is None else checked_jwks(raw_jwks),
        jwks_uri=None if jwks_uri is None else checked_jwks_uri(jwks_uri, https_only=https_only),
        require_pushed_authorization_requests=_flag(body, "require_pushed_authorization_requests"),
        require_signed_request_object=_flag(body, "require_signed_request_object"),
        tls_client_auth_kind=kind,
        tls_client_auth_name=name,
    )


def tls_name(body: Mapping[str, Any], method: str) -> tuple[str | None, str | None]:
    """RFC 8705 §2.1.2: a ``tls_client_auth`` client registers exactly one expected
    name of its certificate; no other client registers any."""
    given = [
        (k, body[f"tls_client_auth_{k}"]) for k in NAME_KINDS if f"tls_client_auth_{k}" in body
    ]
    given = [(k, v) for k, v in given if v is not None]
    if method != AuthMethod.TLS_CLIENT_AUTH:
        if given:
            raise InvalidClientMetadata(
                f"tls_client_auth_{given[0][0]} is only for token_endpoint_auth_method "
                "tls_client_auth (RFC 8705 section 2.1.2)."
            )
        return None, None
    if len(given) != 1:
        raise InvalidClientMetadata(
            "token_endpoint_auth_method tls_client_auth needs exactly one of "
            + ", ".join(f"tls_client_auth_{k}" for k in NAME_KINDS)
            + " (RFC 8705 section 2.1.2)."
        )
    kind, value = given[0]
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return kind, check_name(kind, value)
    except ValueError as exc:
        raise InvalidClientMetadata(f"tls_client_auth_{kind}: {exc}.") from None


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
