"""RFC 9449 at the identity provider: server nonces (§8) and the policy of when a proof
is needed, a nonce required, and a token bound (§5, §10).

Nonces are stateless: an HMAC of the current time bucket under a key derived from the
master key, so every instance sharing the master key issues and accepts the same ones
(the current bucket and the previous one) without a shared store.
"""

from __future__ import annotations

import base64
import hmac
from enum import StrEnum
from hashlib import sha256
from typing import Final

from tollhouse.clock import Clock
from tollhouse.errors import InvalidDpopProof, UseDpopNonce
from tollhouse.models import Client
from tollhouse.protocol.requests import DpopRequest
from tollhouse.resource.dpop import NonceCheck, Proof, ProofChecker

DPOP_SCHEME: Final = "DPoP"
NONCE_PERIOD: Final = 300
"""Seconds one nonce is issued for; it is accepted until the end of the next period."""


class NoncePolicy(StrEnum):
    """``TOLLHOUSE_DPOP_NONCE``: which token requests must carry a server nonce."""

    OFF = "off"
    PUBLIC = "public"
    """Public clients only: confidential clients already prove who they are."""
    ALL = "all"


class NonceSource:
    """Stateless nonces (§8): every instance with the same key agrees on them."""

    def __init__(self, key: bytes, clock: Clock, period: int = NONCE_PERIOD) -> None:
        self._key = key
        self._clock = clock
        self._period = period

    def _for_bucket(self, bucket: int) -> str:
        mac = hmac.new(self._key, bucket.to_bytes(8, "big"), sha256).digest()[:18]
        return base64.urlsafe_b64encode(mac).decode("ascii")

    def current(self) -> str:
        return self._for_bucket(self._clock.now() // self._period)

    def accepts(self, nonce: str) -> bool:
        bucket = self._clock.now() // self._period
        return any(
            hmac.compare_digest(nonce.encode(), self._for_bucket(b).encode())
            for b in (bucket, bucket - 1)
        )

    def checker(self) -> NonceCheck:
        def check(nonce: str | None) -> None:
            if nonce is None or not self.accepts(nonce):
                raise UseDpopNonce(self.current())

        return check


class DpopBinding:
    """The DPoP step of the token endpoint, before any grant (RFC 9449 §5)."""

    def __init__(self, checker: ProofChecker, nonces: NonceSource, policy: NoncePolicy) -> None:
        self._checker = checker
        self._nonces = nonces
        self._policy = policy

    @property
    def algs(self) -> tuple[str, ...]:
        return self._checker.algs

    @property
    def checker(self) -> ProofChecker:
        return self._checker

    def fresh_nonce(self, client: Client) -> str | None:
        """The nonce for the client's next proof when it needs one (§8.2: a successful
        response may carry it, sparing the client a use_dpop_nonce round trip)."""
        return self._nonces.current() if self._needs_nonce(client) else None

    def _needs_nonce(self, client: Client) -> bool:
        return self._policy == NoncePolicy.ALL or (
            self._policy == NoncePolicy.PUBLIC and client.is_public
        )

    def _nonce_check(self, client: Client) -> NonceCheck:
        return self._nonces.checker() if self._needs_nonce(client) else self._optional_nonce

    def _optional_nonce(self, nonce: str | None) -> None:
        # A nonce the client sent although none was required must still be ours.
        if nonce is not None and not self._nonces.accepts(nonce):
            raise UseDpopNonce(self._nonces.current())

    async def prove(self, client: Client, request: DpopRequest | None) -> Proof | None:
        """The checked proof, or None for a bearer request a client may make."""
        if request is None or not request.headers:
            if client.dpop_bound_access_tokens:
                raise InvalidDpopProof("This client must send a DPoP proof.")
            return None
        return await self._checker.check(
            request.headers,
            method=request.method,
            url=request.url,
            nonce=self._nonce_check(client),
        )
