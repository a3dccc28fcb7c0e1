"""RFC 6749 §4.4 client credentials grant: a confidential client acting for itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from tollhouse.errors import UnauthorizedClient
from tollhouse.models import Client, GrantType
from tollhouse.protocol import scopes
from tollhouse.protocol.api_index import ApiIndexCache
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import NO_STORE, JsonResult
from tollhouse.protocol.tokens import AccessTokenIssuer


class ClientCredentialsGrant:
    grant_type: str = GrantType.CLIENT_CREDENTIALS
    parameters: ClassVar[tuple[str, ...]] = ("scope", "resource")

    def __init__(
        self,
        api_index: ApiIndexCache,
        access_tokens: AccessTokenIssuer,
        issuer: str,
        default_client_scopes: Sequence[str] | None = None,
    ) -> None:
        self._api_index = api_index
        self._access_tokens = access_tokens
        self._issuer = issuer
        self._default_client_scopes = default_client_scopes

    async def handle(self, client: Client, request: TokenRequest) -> JsonResult:
        # RFC 6749 §4.4: "The client credentials grant type MUST only be used by
        # confidential clients."
        if client.is_public:
            raise UnauthorizedClient("Public clients may not use the client_credentials grant.")
        if GrantType.CLIENT_CREDENTIALS not in client.grant_types:
            raise UnauthorizedClient("This client may not use the client_credentials grant.")
        grant = scopes.resolve(
            scopes.parse(request.params.get("scope")),
            request.params.get("resource"),
            await self._api_index.get(),
            client=client,
            issuer=self._issuer,
            default_client_scopes=self._default_client_scopes,
        )
        # RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included."
        access = await self._access_tokens.issue(
            subject=client.client_id,
            client_id=client.client_id,
            audience=grant.audience,
            scopes=grant.scopes,
            ttl=client.access_token_ttl,
        )
        body: dict[str, object] = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": access.expires_in,
            "scope": " ".join(grant.scopes),
        }
        return JsonResult(200, body, dict(NO_STORE))
