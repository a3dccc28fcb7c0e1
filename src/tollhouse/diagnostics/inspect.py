"""``tollhouse token inspect``: gather what the database knows about a token, then let
:mod:`tollhouse.diagnostics.token_explain` judge it.

The signature is checked by the server's own :meth:`tollhouse.keys.ring.KeyRing.verify_jwt`
against the published keys only, so inspecting a token never needs the master key.
"""

from __future__ import annotations

import dataclasses
from typing import cast

from tollhouse.clock import Clock
from tollhouse.diagnostics.key_checks import published_keys
from tollhouse.diagnostics.token_explain import (
    DEFAULT_LEEWAY,
    Decoded,
    Explanation,
    TokenFacts,
    decode,
    explain,
    undecodable,
)
from tollhouse.keys.lifecycle import DEFAULT_RETENTION, STORED_RETIRED, phases
from tollhouse.keys.ring import KeyRing
from tollhouse.models import SigningKey
from tollhouse.security.secretbox import KEY_SIZE, SecretBox
from tollhouse.storage.ports import KeyStore, Storage


class PublishedKeys:
    """A read-only view of the keys a server publishes now, every one presented as
    retired at ``now``: a :class:`KeyRing` loading from it parses their public JWKs to
    verify with and never opens a private key. ``KeyRing.load`` calls only
    ``list_keys``."""

    def __init__(self, keys: list[SigningKey], now: int, retention: int) -> None:
        self._keys = [
            dataclasses.replace(k, status=STORED_RETIRED, retired_at=now)
            for k in published_keys(keys, now, retention)
        ]

    async def list_keys(self) -> list[SigningKey]:
        return list(self._keys)


async def inspect_token(
    token: str,
    storage: Storage,
    *,
    issuer: str,
    clock: Clock,
    leeway: int = DEFAULT_LEEWAY,
    audience: str | None = None,
    retention: int = DEFAULT_RETENTION,
) -> Explanation:
    """``retention``: how long retired keys stay published (the server's setting)."""
    decoded = decode(token)
    if not isinstance(decoded, Decoded):
        return undecodable(decoded)
    keys = await storage.list_keys()
    now = clock.now()
    view = PublishedKeys(keys, now, retention)
    # Never used to open anything: every key in the view is "retired" (public only).
    ring = KeyRing(cast(KeyStore, view), SecretBox(bytes(KEY_SIZE)), clock, retention=retention)
    await ring.load()
    verified = ring.verify_jwt(token.strip()) is not None
    claims = decoded.claims
    jti, client_id, sub = claims.get("jti"), claims.get("client_id"), claims.get("sub")
    facts = TokenFacts(
        issuer=issuer,
        now=now,
        keys=keys,
        phases={v.key.kid: v for v in phases(keys, now, retention)},
        signature_verifies=verified,
        apis=await storage.list_apis(),
        revoked=await storage.is_revoked(jti, now) if isinstance(jti, str) else False,
        record=await storage.get_access_token(jti) if isinstance(jti, str) else None,
        client=await storage.get_client(client_id) if isinstance(client_id, str) else None,
        user=await storage.get_user(sub) if isinstance(sub, str) else None,
        leeway=leeway,
        audience=audience,
    )
    return explain(decoded, facts)
