"""Where the parameters of an authorization request come from: the query, a request
pushed to /par (RFC 9126) or a signed request object (RFC 9101), and the per-client
and server-wide rules that require one of the latter.
"""

from __future__ import annotations

from collections.abc import Mapping

from tollhouse.errors import InvalidRequest
from tollhouse.models import Client
from tollhouse.protocol.pushed_requests import PushedRequests
from tollhouse.protocol.request_objects import RequestObjects


class AuthorizationSources:
    def __init__(
        self,
        pushed: PushedRequests | None = None,
        objects: RequestObjects | None = None,
        *,
        require_par: bool = False,
    ) -> None:
        self.pushed = pushed
        self.objects = objects
        self.require_par = require_par

    def par_required(self, client: Client) -> bool:
        return self.require_par or client.require_pushed_authorization_requests

    async def at_authorize(self, params: Mapping[str, str], client: Client) -> Mapping[str, str]:
        """The parameters /authorize acts on. RFC 9126 §4: with ``request_uri`` those
        pushed (only ``client_id`` is read beside it)."""
        request_uri = params.get("request_uri")
        if request_uri is not None:
            if self.pushed is None:
                raise InvalidRequest("request_uri is not supported.")
            return await self.pushed.take(request_uri, client.client_id)
        if self.par_required(client):
            raise InvalidRequest(
                "This client must push its authorization requests to the pushed "
                "authorization request endpoint (/par) first and send the request_uri "
                "(RFC 9126)."
            )
        return await self.unpacked(params, client)

    async def unpacked(self, params: Mapping[str, str], client: Client) -> Mapping[str, str]:
        """The request object's parameters (RFC 9101 §5), or ``params`` as they are."""
        if "request" not in params:
            if client.require_signed_request_object:
                raise InvalidRequest(
                    "This client must send its authorization requests as signed request "
                    "objects (request, RFC 9101)."
                )
            return params
        if self.objects is None:
            raise InvalidRequest("Request objects (request) are not supported.")
        return await self.objects.unpack(params, client)
