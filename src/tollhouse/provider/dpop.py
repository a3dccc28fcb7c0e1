"""Wiring of RFC 9449 DPoP: one proof checker (its replay cache in Redis when configured,
so every instance refuses a proof another already accepted), nonces derived from the
master key, and the nonce policy of ``TOLLHOUSE_DPOP_NONCE``."""

from __future__ import annotations

from tollhouse.protocol.dpop import DpopBinding, NoncePolicy, NonceSource
from tollhouse.provider.core import Core
from tollhouse.resource.dpop import MemoryReplayCache, ProofChecker, ReplayCache


def replay_cache(core: Core) -> ReplayCache:
    """The Redis connection of the revocation mirror when there is one, else in process."""
    for mirror in core.mirrors:
        shared = getattr(mirror, "replay_cache", None)
        if shared is not None:
            cache: ReplayCache = shared()
            return cache
    return MemoryReplayCache()


def dpop_binding(core: Core) -> DpopBinding:
    settings, clock = core.settings, core.clock
    checker = ProofChecker(replay_cache(core), window=settings.dpop_proof_window, now=clock.now)
    # Every instance derives the same key from the shared master key: a nonce issued by
    # one is accepted by the others.
    nonces = NonceSource(core.box.derive("dpop-nonces"), clock)
    return DpopBinding(checker, nonces, NoncePolicy(settings.dpop_nonce))
