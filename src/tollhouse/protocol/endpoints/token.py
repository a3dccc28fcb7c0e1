"""RFC 6749 §3.2 token endpoint: authenticate the client, check its DPoP proof, dispatch
to its grant."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable

from tollhouse.errors import InvalidClient, OAuthError, UnsupportedGrantType, UseDpopNonce
from tollhouse.models import Client
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.dpop import DPOP_SCHEME, DpopBinding
from tollhouse.protocol.dpop_context import bind
from tollhouse.protocol.grants import Grant
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult, error_json

Admission = Callable[[Client], Awaitable[JsonResult | None]]
"""Called once the client has authenticated, before its grant: a result (a refusal)
ends the request there. The web layer's per-client rate limit (web/throttle.py)."""


class TokenEndpoint:
    def __init__(
        self,
        authenticator: ClientAuthenticator,
        grants: Iterable[Grant],
        dpop: DpopBinding | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._grants = {grant.grant_type: grant for grant in grants}
        self._grant_types = tuple(sorted(self._grants))
        self._dpop = dpop

    @property
    def grant_types(self) -> tuple[str, ...]:
        return self._grant_types

    @property
    def dpop(self) -> DpopBinding | None:
        return self._dpop

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
            return await self._run(grant, client, request)
        except InvalidClient as error:
            # RFC 6749 §5.2: 401 with WWW-Authenticate naming the scheme.
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except UseDpopNonce as error:
            # RFC 9449 §8: the nonce to use comes in the DPoP-Nonce header.
            return error_json(error, headers={"DPoP-Nonce": error.nonce})
        except OAuthError as error:
            return error_json(error)

    async def _run(self, grant: Grant, client: Client, request: TokenRequest) -> JsonResult:
        """RFC 9449 §5: the proof is checked before any grant, which then binds what it
        issues to the proof's key, or else to the client certificate (RFC 8705 §3;
        protocol/dpop_context.py)."""
        dpop = self._dpop
        proof = None if dpop is None else await dpop.prove(client, request.dpop)
        reset = bind(None if proof is None else proof.jkt, request.certificate)
        try:
            result = await grant.handle(client, request)
        finally:
            reset()
        if dpop is None or proof is None:
            return result  # certificate-bound tokens stay Bearer tokens (RFC 8705 §3)
        if result.status != 200 or "access_token" not in result.body:
            return result
        body = {**result.body, "token_type": DPOP_SCHEME}  # RFC 9449 §5
        nonce = dpop.fresh_nonce(client)
        headers = result.headers if nonce is None else {**result.headers, "DPoP-Nonce": nonce}
        return dataclasses.replace(result, body=body, headers=headers)
