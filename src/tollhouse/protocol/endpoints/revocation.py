"""RFC 7009 token revocation."""

from __future__ import annotations

import logging

from tollhouse.clock import Clock
from tollhouse.errors import InvalidClient, OAuthError
from tollhouse.models import Client
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.requests import TokenRequest, require
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.token_lookup import TokenLookup

log = logging.getLogger("tollhouse.revocation")


class RevocationEndpoint:
    def __init__(
        self,
        authenticator: ClientAuthenticator,
        lookup: TokenLookup,
        revoker: Revoker,
        clock: Clock,
    ) -> None:
        self._authenticator = authenticator
        self._lookup = lookup
        self._revoker = revoker
        self._clock = clock

    async def handle(self, request: TokenRequest) -> JsonResult:
        try:
            client = await self._authenticator.authenticate(request.credentials)
            token = require(request.params, "token")
            await self._revoke(client, token, request.params.get("token_type_hint"))
        except InvalidClient as error:
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except OAuthError as error:
            return error_json(error)
        # RFC 7009 §2.2: "The authorization server responds with HTTP status code 200 if
        # the token has been revoked successfully or if the client submitted an invalid
        # token."
        return JsonResult(200, {}, dict(NO_STORE))

    async def _revoke(self, client: Client, token: str, hint: str | None) -> None:
        # RFC 7009 §2.1: the hint only orders the search; it is not trusted.
        found = await self._lookup.find(token, hint)
        if found is None:
            return
        if found.client_id != client.client_id:
            # RFC 7009 §2.1: "the authorization server first validates the client
            # credentials ... and then verifies whether the token was issued to the
            # client making the revocation request" - if not, nothing happens.
            log.info(
                "revocation of another client's token ignored",
                extra={"event": "revoke_ignored", "client_id": client.client_id},
            )
            return
        if found.family_id is not None and found.kind == "refresh_token":
            await self._revoker.revoke_family(found.family_id, "revoked_by_client")
        elif found.jti is not None:
            await self._revoker.revoke_access_token(
                found.jti, found.expires_at, "revoked_by_client"
            )
