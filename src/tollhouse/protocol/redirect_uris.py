"""Redirect URI rules: registration checks and exact matching (RFC 6749 §3.1.2,
RFC 9700 §2.1 and §4.1.3, RFC 8252 §7.3)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from tollhouse.errors import InvalidRedirectUri, InvalidRedirectUriMetadata
from tollhouse.hosts import is_loopback

MAX_URI_LENGTH = 2000


def check_registrable(uri: str) -> str:
    """Validate a redirect URI before it is registered.

    RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI" and "MUST NOT
    include a fragment component". RFC 9700 §4.1.3 and RFC 8252 §8.3: https, or plain
    http only for loopback addresses (native apps). ``localhost`` is refused in favour of
    the literal loopback IP (RFC 8252 §8.3: "NOT RECOMMENDED").
    """
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidRedirectUriMetadata("A redirect URI is too long.")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in uri):
        raise InvalidRedirectUriMetadata(f"The redirect URI contains whitespace: {uri!r}")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise InvalidRedirectUriMetadata(f"The redirect URI is not a valid URI: {uri!r}") from None
    if not parts.scheme or not parts.netloc or not parts.hostname:
        raise InvalidRedirectUriMetadata(f"The redirect URI must be absolute: {uri!r}")
    if "#" in uri:
        raise InvalidRedirectUriMetadata(f"The redirect URI must not have a fragment: {uri!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidRedirectUriMetadata(f"The redirect URI must not carry credentials: {uri!r}")
    del port
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http":
        if parts.hostname == "localhost":
            raise InvalidRedirectUriMetadata(
                f"Use http://127.0.0.1 or http://[::1] instead of localhost: {uri!r}"
            )
        if is_loopback(parts.hostname):
            return uri
        raise InvalidRedirectUriMetadata(
            f"Plain http redirect URIs are allowed only on loopback addresses: {uri!r}"
        )
    raise InvalidRedirectUriMetadata(f"The redirect URI must use https: {uri!r}")


def select(registered: Sequence[str], sent: str | None) -> str:
    """Pick the redirect URI for an authorization request by exact string comparison.

    RFC 9700 §4.1.3: "authorization servers MUST utilize exact string matching".
    Without a ``redirect_uri`` the client must have exactly one registered (§3.1.2.3).
    """
    if sent is None:
        if len(registered) == 1:
            return registered[0]
        raise InvalidRedirectUri(
            "The redirect_uri parameter is required: this client registered several."
        )
    if sent in registered:
        return sent
    raise InvalidRedirectUri("The redirect_uri is not registered for this client.")
