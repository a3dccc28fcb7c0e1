"""``tollhouse token inspect``: gather what the database knows about a token, then let
:mod:`tollhouse.diagnostics.token_explain` judge it.

The signature is checked against the public JWKs of the keys the server publishes
now, as the server itself and resource servers check it: inspecting a token never
needs the master key.
"""

from __future__ import annotations

from tollhouse.clock import Clock
from tollhouse.diagnostics.token_explain import (
    Decoded,
    Explanation,
    TokenFacts,
    decode,
    explain,
    undecodable,
)
from tollhouse.keys.lifecycle import DEFAULT_RETENTION, phases
from tollhouse.resource.at_jwt import DEFAULT_LEEWAY
from tollhouse.resource.keyset import StaticKeys
from tollhouse.storage.ports import Storage


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
    views = phases(keys, now, retention)
    published = StaticKeys(v.key.public_jwk for v in views if v.published).current()
    claims = decoded.claims
    jti, client_id, sub = claims.get("jti"), claims.get("client_id"), claims.get("sub")
    facts = TokenFacts(
        issuer=issuer,
        now=now,
        published=published,
        phases={v.key.kid: v for v in views},
        apis=await storage.list_apis(),
        revoked=await storage.is_revoked(jti, now) if isinstance(jti, str) else False,
        record=await storage.get_access_token(jti) if isinstance(jti, str) else None,
        client=await storage.get_client(client_id) if isinstance(client_id, str) else None,
        user=await storage.get_user(sub) if isinstance(sub, str) else None,
        leeway=leeway,
        audience=audience,
    )
    return explain(decoded, facts)
