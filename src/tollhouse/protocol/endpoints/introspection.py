"""RFC 7662 token introspection."""

from __future__ import annotations

from typing import Any

from tollhouse.errors import InvalidClient, OAuthError
from tollhouse.models import Client
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.requests import TokenRequest, require
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.protocol.revocation import Revoker
from tollhouse.protocol.token_lookup import FoundToken, TokenLookup
from tollhouse.storage.ports import UserStore

INACTIVE: dict[str, Any] = {"active": False}


class IntrospectionEndpoint:
    def __init__(
        self,
        authenticator: ClientAuthenticator,
        lookup: TokenLookup,
        revoker: Revoker,
        users: UserStore,
    ) -> None:
        self._authenticator = authenticator
        self._lookup = lookup
        self._revoker = revoker
        self._users = users

    async def handle(self, request: TokenRequest) -> JsonResult:
        try:
            client = await self._authenticator.authenticate(request.credentials)
            # RFC 7662 §2.1: the endpoint "MUST require some form of authorization";
            # a public client proves nothing about itself.
            if client.is_public:
                raise InvalidClient("Public clients may not introspect tokens.")
            token = require(request.params, "token")
            body = await self._introspect(client, token, request.params.get("token_type_hint"))
        except InvalidClient as error:
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except OAuthError as error:
            return error_json(error)
        return JsonResult(200, body, dict(NO_STORE))

    async def _introspect(self, client: Client, token: str, hint: str | None) -> dict[str, Any]:
        found = await self._lookup.find(token, hint)
        if found is None or not found.active or not _may_see(client, found):
            # RFC 7662 §2.2: inactive, unknown, or not the caller's to see - all look alike.
            return dict(INACTIVE)
        if found.jti is not None and await self._revoker.is_revoked(found.jti):
            return dict(INACTIVE)
        body: dict[str, Any] = {"active": True, **found.claims}
        body["token_type"] = _token_type(found)
        if found.subject == found.client_id:
            return body  # RFC 6749 §4.4: a client acting for itself has no username
        user = await self._users.get_user(found.subject)
        if user is not None:
            body["username"] = user.username
        return body


def _may_see(client: Client, found: FoundToken) -> bool:
    """A client may introspect the tokens issued to it; a resource server the tokens
    whose audience is one of its APIs (access tokens only)."""
    if found.client_id == client.client_id:
        return True
    if found.kind != "access_token":
        return False
    aud = found.claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return any(a in client.introspect_audiences for a in audiences)


def _token_type(found: FoundToken) -> str:
    """RFC 7662 §2.2 ``token_type``: ``DPoP`` for a key-bound access token (RFC 9449
    §6.2, whose ``cnf`` the claims already carry)."""
    if found.kind != "access_token":
        return "refresh_token"
    cnf = found.claims.get("cnf")
    return "DPoP" if isinstance(cnf, dict) and "jkt" in cnf else "Bearer"
