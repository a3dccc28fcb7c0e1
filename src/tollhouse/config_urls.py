"""The URL-shaped settings: the issuer identifier (RFC 8414 §2) and the database."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tollhouse.hosts import is_loopback


def check_sqlite_url(url: str) -> None:
    """A SQLite database must be a file: an in-memory one lives in one connection of
    one process, so the server would lose what admin commands and workers wrote."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"is not a database URL: {url!r}") from None
    memory = parsed.query.get("mode") == "memory" or parsed.database in (None, "", ":memory:")
    if memory:
        raise ValueError(
            f"must name a SQLite file (sqlite:///PATH) or be postgresql://...; "
            f"an in-memory database ({url!r}) would be lost at exit and not shared"
        )


def check_issuer(issuer: str, insecure_http: bool) -> None:
    """RFC 8414 §2: https URL, no query or fragment."""
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        raise ValueError(f"issuer must have no query or fragment: {issuer!r}")
    if not parts.hostname:
        raise ValueError(f"issuer must be an absolute URL: {issuer!r}")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and insecure_http and is_loopback(parts.hostname):
        return
    raise ValueError(
        "issuer must be an https URL (http only on loopback with --insecure-http or "
        f"TOLLHOUSE_INSECURE_HTTP=1): {issuer!r}"
    )
