"""Delivering OIDC Back-Channel Logout 1.0 logout tokens to clients (§2.5).

The HTTP adapter behind the protocol's ``LogoutSender`` port (protocol/sessions.py):
the protocol decides who is told what; this module only POSTs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from tollhouse.protocol.logout import LogoutNotification

log = logging.getLogger("tollhouse.audit")

TIMEOUT_SECONDS = 5.0


class HttpLogoutSender:
    """Sends each logout token once, now, and waits for the answers."""

    async def send(self, notifications: Sequence[LogoutNotification]) -> None:
        await deliver(notifications)


async def deliver(notifications: Sequence[LogoutNotification]) -> list[bool]:
    """POST each logout token (``application/x-www-form-urlencoded``, field
    ``logout_token``); a client answers 200 (or 204). Never raises; one attempt each."""
    if not notifications:
        return []
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
        return list(await asyncio.gather(*(_post(http, n) for n in notifications)))


async def _post(http: httpx.AsyncClient, notification: LogoutNotification) -> bool:
    try:
        response = await http.post(
            notification.uri,
            data={"logout_token": notification.logout_token},
            headers={"Cache-Control": "no-store"},
        )
        delivered = response.status_code in (200, 204)
        status: int | str = response.status_code
    except httpx.HTTPError as exc:
        delivered, status = False, type(exc).__name__
    log.info(
        "back-channel logout sent" if delivered else "back-channel logout failed",
        extra={
            "event": "backchannel_logout",
            "client_id": notification.client_id,
            "status": status,
        },
    )
    return delivered
