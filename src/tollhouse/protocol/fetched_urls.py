"""Client metadata URLs the server will fetch, checked before a client registered over
HTTP may keep them (RFC 7591 §5: the server may refuse metadata values; issue 21).

A back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.2) or a ``jwks_uri``
(RFC 7591 §2) aimed at a loopback, private or link-local address would make the server
a probe of its own network. The rules and the DNS lookups live outside the protocol,
behind :class:`UrlGuard` (security/outbound.py implements it); clients an operator
creates are not checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tollhouse.errors import InvalidClientMetadata

FETCHED_URL_FIELDS = ("backchannel_logout_uri", "jwks_uri")


class UrlGuard(Protocol):
    async def refusal(self, url: str) -> str | None:
        """Why the server must not send requests to ``url``, or None."""


async def check_fetched_urls(body: Mapping[str, Any], guard: UrlGuard) -> None:
    """Raise ``invalid_client_metadata`` (RFC 7591 §3.2.2) naming the first field whose
    URL the guard refuses."""
    for field in FETCHED_URL_FIELDS:
        value = body.get(field)
        if not isinstance(value, str):
            continue
        reason = await guard.refusal(value)
        if reason is not None:
            raise InvalidClientMetadata(
                f"{field} must not point at a loopback, private, link-local or other "
                f"internal address: {reason}."
            )
