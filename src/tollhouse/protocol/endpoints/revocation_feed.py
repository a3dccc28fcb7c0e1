"""The revocation feed: revoked access-token ``jti``s for resource servers.

``GET /revocations?since=CURSOR`` answers a compact JWS (``typ: revocations+jwt``)
signed with a key from the JWKS, whose payload is
``{"iss", "iat", "revoked": [{"jti", "exp"}], "next": CURSOR}``. A resource server
keeps ``next`` and polls again; entries are idempotent, so the feed re-sends the last
few seconds of revocations on every poll, which covers rows whose sequence number was
committed out of order by concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.clock import Clock
from tollhouse.errors import InvalidClient, InvalidRequest, OAuthError
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.requests import ClientCredentials
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.protocol.tokens import TokenSigner
from tollhouse.storage.ports import RevocationFeedStore

FEED_TYP = "revocations+jwt"
PAGE_SIZE = 1000
REREAD_WINDOW = 10
"""Seconds of recent revocations re-sent on every poll."""


@dataclass(frozen=True, slots=True)
class SignedFeed:
    jws: str


class RevocationFeedEndpoint:
    def __init__(
        self,
        authenticator: ClientAuthenticator,
        store: RevocationFeedStore,
        signer: TokenSigner,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._authenticator = authenticator
        self._store = store
        self._signer = signer
        self._clock = clock
        self._issuer = issuer

    async def handle(
        self, credentials: ClientCredentials, since: str | None
    ) -> SignedFeed | JsonResult:
        try:
            client = await self._authenticator.authenticate(credentials)
            if client.is_public:
                raise InvalidClient("Only confidential clients may read the revocation feed.")
            cursor = _parse_cursor(since)
        except InvalidClient as error:
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except OAuthError as error:
            return error_json(error)
        now = self._clock.now()
        page = await self._store.revocations_since(cursor, now, PAGE_SIZE)
        recent = await self._store.revocations_between(now - REREAD_WINDOW, now, PAGE_SIZE)
        entries = {r.jti: r for r in (*recent, *page)}
        next_cursor = max([cursor, *(r.seq for r in page)])
        payload = {
            "iss": self._issuer,
            "iat": now,
            "revoked": [{"jti": r.jti, "exp": r.expires_at} for r in entries.values()],
            "next": str(next_cursor),
            "more": len(page) == PAGE_SIZE,
        }
        return SignedFeed(self._signer.sign_jwt(payload, typ=FEED_TYP))


def _parse_cursor(since: str | None) -> int:
    if since is None:
        return 0
    if not since.isdigit() or len(since) > 18:
        raise InvalidRequest("since must be a cursor returned as next by this endpoint.")
    return int(since)
