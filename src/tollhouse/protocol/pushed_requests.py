"""RFC 9126 pushed authorization requests: held until /authorize takes them, once.

The ``request_uri`` is ``urn:ietf:params:oauth:request_uri:`` and 256 random bits; only
its fingerprint is stored (a database leak yields no usable request_uri). A pushed
request lives :data:`PAR_TTL` seconds, is bound to the client that pushed it, and is
taken whole: its parameters replace the ones of the /authorize request, which may add
only ``client_id`` (RFC 9126 §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tollhouse.clock import Clock
from tollhouse.errors import InvalidRequestUri
from tollhouse.models import PushedRequest
from tollhouse.randomness import fingerprint, token
from tollhouse.storage.ports import PushedRequestStore

REQUEST_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
PAR_TTL: Final = 60
"""RFC 9126 §2.2: "A value of 60 seconds ... is RECOMMENDED"; FAPI 2.0 asks < 600."""


class PushedRequests:
    def __init__(self, store: PushedRequestStore, clock: Clock, ttl: int = PAR_TTL) -> None:
        self._store = store
        self._clock = clock
        self.ttl = ttl

    async def push(self, client_id: str, params: Mapping[str, str]) -> str:
        """Store the request; its request_uri."""
        secret = token(32)
        await self._store.add_pushed_request(
            PushedRequest(
                fingerprint(secret), client_id, dict(params), self._clock.now() + self.ttl
            )
        )
        return REQUEST_URI_PREFIX + secret

    async def take(self, request_uri: str, client_id: str) -> dict[str, str]:
        """The pushed parameters of ``request_uri``, which ``client_id`` pushed."""
        if not request_uri.startswith(REQUEST_URI_PREFIX):
            raise InvalidRequestUri(
                "Only request_uri values from the pushed authorization request endpoint "
                "(/par) are accepted."
            )
        secret = request_uri.removeprefix(REQUEST_URI_PREFIX)
        pushed = await self._store.take_pushed_request(fingerprint(secret), self._clock.now())
        if pushed is None:
            raise InvalidRequestUri(
                "The request_uri is unknown, used already or expired; push the request again."
            )
        if pushed.client_id != client_id:
            raise InvalidRequestUri("The request_uri was pushed by another client.")
        return pushed.params
