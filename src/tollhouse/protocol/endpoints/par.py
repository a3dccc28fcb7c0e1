"""RFC 9126 pushed authorization request endpoint: ``POST /par``.

The client authenticates as at the token endpoint (every method, private_key_jwt
included) and sends the parameters it would send to /authorize, or a signed request
object (RFC 9101). They are checked now as /authorize will check them, so a client
learns of a bad request here (RFC 9126 §2.1), and held for :data:`PAR_TTL` seconds
under a ``request_uri`` only this client can use, once.
"""

from __future__ import annotations

from tollhouse.errors import InvalidClient, InvalidRedirectUri, InvalidRequest, OAuthError
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, ClientAuthenticator
from tollhouse.protocol.endpoints.authorize import AuthorizeEndpoint
from tollhouse.protocol.pushed_requests import PushedRequests
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json

CLIENT_AUTH_PARAMETERS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
"""Credentials, not authorization parameters: never stored with the request."""


class ParEndpoint:
    def __init__(
        self,
        authenticator: ClientAuthenticator,
        authorize: AuthorizeEndpoint,
        pushed: PushedRequests,
    ) -> None:
        self._authenticator = authenticator
        self._authorize = authorize
        self._pushed = pushed

    async def handle(self, request: TokenRequest) -> JsonResult:
        """201 ``{request_uri, expires_in}`` (RFC 9126 §2.2), or an RFC 6749 §5.2 error."""
        try:
            client = await self._authenticator.authenticate(request.credentials)
            params = {
                name: value
                for name, value in request.params.items()
                if name not in CLIENT_AUTH_PARAMETERS
            }
            if "request_uri" in params:
                raise InvalidRequest("request_uri must not be sent to /par (RFC 9126 section 2.1).")
            if params.setdefault("client_id", client.client_id) != client.client_id:
                raise InvalidRequest("client_id differs from the authenticated client.")
            unpacked = dict(await self._authorize.sources.unpacked(params, client))
            await self._authorize.check(unpacked, client)
            request_uri = await self._pushed.push(client.client_id, unpacked)
        except InvalidClient as error:
            return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        except InvalidRedirectUri as error:
            return error_json(InvalidRequest(error.description))
        except OAuthError as error:
            return error_json(error)
        body = {"request_uri": request_uri, "expires_in": self._pushed.ttl}
        return JsonResult(201, body, dict(NO_STORE))
