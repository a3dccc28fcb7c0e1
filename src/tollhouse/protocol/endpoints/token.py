"""RFC 6749 §3.2 token endpoint: authenticate the client, dispatch to its grant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from tollhouse.errors import InvalidClient, OAuthError, UnsupportedGrantType
from tollhouse.models import Client
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.grants import Grant
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult, error_json

Admission = Callable[[Client], Awaitable[JsonResult | None]]
"""Called once the client has authenticated, before its grant: a result (a refusal)
ends the request there. The web layer's per-client rate limit (web/throttle.py)."""


class TokenEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, grants: Iterable[Grant]) -> None:
        self._authenticator = authenticator
        self._grants = {grant.grant_type: grant for grant in grants}
        self._grant_types = tuple(sorted(self._grants))

    @property
    def grant_types(self) -> tuple[str, ...]:
        return self._grant_types

    async def handle(self, request: TokenRequest, admit: Admission | None = None) -> JsonResult:
        """Never raises an ``OAuthError``: it becomes an RFC 6749 §5.2 JSON response."""
        try:
            grant_type = request.grant_type
            client = await self._authenticator.authenticate(request.credentials)
            refused = None if admit is None else await admit(client)
            if refused is not None:
                return refused
            grant = self._grants.get(grant_type)
            if grant is None:
                raise UnsupportedGrantType(f"The grant type {grant_type!r} is not supported.")
            if self._authenticator.profile is not None:
                self._authenticator.profile.check_token_request(request)
            return await grant.handle(client, request)
        except InvalidClient as error:
            # RFC 6749 §5.2: 401 with WWW-Authenticate naming the scheme.
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except OAuthError as error:
            return error_json(error)
