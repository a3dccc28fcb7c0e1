"""What endpoints return: plain values the web layer renders without deciding anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tollhouse.errors import OAuthError, TemporarilyUnavailable

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class JsonResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: OAuthError | None = None
    """The error behind an error response, so the web layer can log its debug text."""


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str
    third_party: bool = False
    """The destination belongs to a self-registered client (nobody vouched for it): the
    browser is shown a notice naming the host instead of being sent there (RFC 9700
    §4.11.2: "SHOULD only automatically redirect the user agent if it trusts the
    redirect URI")."""


def error_json(error: OAuthError, *, headers: dict[str, str] | None = None) -> JsonResult:
    """RFC 6749 §5.2 error response, never cached; with ``Retry-After`` (RFC 9110
    §10.2.3) when a temporary error knows how long to wait."""
    sent = {**NO_STORE, **(headers or {})}
    if isinstance(error, TemporarilyUnavailable) and error.retry_after:
        sent.setdefault("Retry-After", str(error.retry_after))
    return JsonResult(error.status, error.to_dict(), sent, error)


def add_query(uri: str, params: dict[str, str | None]) -> str:
    """Append parameters to a URI, keeping the query it already has (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
