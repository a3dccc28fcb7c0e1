"""A client's public keys, from its registered ``jwks`` or fetched from its
``jwks_uri`` (RFC 7591 §2) for private_key_jwt (RFC 7523) and request objects.

A ``jwks_uri`` is read through :class:`~tollhouse.security.safe_fetch.SafeFetcher`:
the connection goes only to an address the outbound guard checked (no loopback,
private or link-local targets unless an operator made the client), no redirects,
bounded time and size. A client registered over HTTP must use https. The set is kept
as long as its ``Cache-Control: max-age`` says, within [:data:`MIN_TTL`,
:data:`MAX_TTL`]; an assertion naming an unknown kid fetches it again, at most once
per :data:`REFRESH_INTERVAL` per client, so a client that rotated its key is served
at once and a stream of bogus kids costs one fetch a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from tollhouse.clock import Clock
from tollhouse.errors import InvalidClient
from tollhouse.models import Client
from tollhouse.protocol.client_keys import KeySetError, parse_key_set, parse_key_set_text
from tollhouse.protocol.client_trust import operator_made
from tollhouse.resource.jwk import VerifyKey
from tollhouse.security.outbound import OutboundRefused
from tollhouse.security.safe_fetch import FetchFailed, SafeFetcher
from tollhouse.storage.ports import RegistrationTokenStore

log = logging.getLogger("tollhouse.client_keys")

MIN_TTL: Final = 60
MAX_TTL: Final = 24 * 3600
DEFAULT_TTL: Final = 300
"""Seconds a fetched set is kept when its answer names no max-age."""
REFRESH_INTERVAL: Final = 60
MAX_CLIENTS: Final = 10_000
"""Fetched sets kept at once; the least recently used go first."""
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)


@dataclass(slots=True)
class _Fetched:
    uri: str
    keys: tuple[VerifyKey, ...]
    fresh_until: int
    refreshed_at: int | None = None
    """When an unknown kid last made the set be fetched again."""


def cache_lifetime(cache_control: str | None) -> int:
    """RFC 9111 §5.2.2.1 max-age, within the bounds; ``no-store``/``no-cache`` give the
    least."""
    if not cache_control:
        return DEFAULT_TTL
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return MIN_TTL
    found = _MAX_AGE.search(lowered)
    seconds = int(found.group(1)) if found else DEFAULT_TTL
    return max(MIN_TTL, min(MAX_TTL, seconds))


@lru_cache(maxsize=1024)
def _inline_keys(text: str) -> tuple[VerifyKey, ...]:
    return parse_key_set_text(text, strict=False)


class ClientKeySource:
    """Implements :class:`~tollhouse.protocol.client_assertion.ClientKeys`."""

    def __init__(
        self, fetcher: SafeFetcher, registrations: RegistrationTokenStore, clock: Clock
    ) -> None:
        self._fetcher = fetcher
        self._registrations = registrations
        self._clock = clock
        self._fetched: OrderedDict[str, _Fetched] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def keys_of(self, client: Client, *, refresh: bool = False) -> tuple[VerifyKey, ...]:
        if client.jwks is not None:
            try:
                return _inline_keys(client.jwks)
            except KeySetError as exc:
                raise InvalidClient(f"The client's registered jwks is unusable: {exc}.") from None
        if client.jwks_uri is None:
            raise InvalidClient("The client has no registered keys (jwks or jwks_uri).")
        # One fetch at a time per client: concurrent assertions wait for it.
        async with self._locks.setdefault(client.client_id, asyncio.Lock()):
            return await self._remote(client, client.jwks_uri, refresh)

    async def _remote(self, client: Client, uri: str, refresh: bool) -> tuple[VerifyKey, ...]:
        now = self._clock.now()
        held = self._fetched.get(client.client_id)
        refreshed_at = None
        if held is not None and held.uri == uri:
            self._fetched.move_to_end(client.client_id)
            refreshed_at = held.refreshed_at
            if refresh and (refreshed_at is None or now - refreshed_at >= REFRESH_INTERVAL):
                refreshed_at = now
            elif now < held.fresh_until:
                return held.keys
        try:
            fetched = await self._fetch(client, uri, now)
            fetched.refreshed_at = refreshed_at
        except InvalidClient:
            if held is not None and held.uri == uri:
                # The last good set while the client's host is down, tried again in a
                # minute rather than at every request.
                held.fresh_until = now + MIN_TTL
                return held.keys
            raise
        self._fetched[client.client_id] = fetched
        while len(self._fetched) > MAX_CLIENTS:
            self._fetched.popitem(last=False)
        return fetched.keys

    async def _fetch(self, client: Client, uri: str, now: int) -> _Fetched:
        trusted = await operator_made(self._registrations, client.client_id)
        if not trusted and not uri.startswith("https://"):
            raise InvalidClient("The client's jwks_uri must be an https URL.")
        try:
            answer = await self._fetcher.get(
                uri,
                trusted=trusted,
                headers={"Accept": "application/jwk-set+json, application/json"},
            )
            if answer.status != 200:
                raise FetchFailed(f"HTTP status {answer.status}")
            keys = parse_key_set(json.loads(answer.body), strict=False)
        except (OutboundRefused, FetchFailed, KeySetError, ValueError, RecursionError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            log.warning(
                "client jwks_uri unusable",
                extra={"client_id": client.client_id, "jwks_uri": uri, "reason": reason},
            )
            raise InvalidClient(f"The client's jwks_uri could not be used: {reason}.") from None
        ttl = cache_lifetime(answer.headers.get("cache-control"))
        return _Fetched(uri, keys, now + ttl)
