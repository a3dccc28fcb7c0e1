"""The hot endpoints, answered from the raw ASGI scope: ``POST /token``,
``/introspect``, ``/revoke``, ``/par`` (and ``/device_authorization``, which shares their
form and client parsing); ``GET /jwks.json`` and the discovery documents.

They carry nearly all of an identity provider's traffic, so they skip Starlette's
router and its ``Request``/``Response`` objects (bench/RESULTS.md): each handler reads
the form with ``web/parsing.py`` and returns a :class:`JsonResult` that the pipeline
renders (``web/rendering.py``). They pass every step of the pipeline
(web/pipeline.py) like any other request. Other methods on these paths (405, ``HEAD``)
are Starlette's routes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import NamedTuple

from starlette.types import Receive, Scope

from tollhouse.errors import InvalidClient, OAuthError
from tollhouse.models import Client
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, credentials_from
from tollhouse.protocol.endpoints.device_authorization import DeviceOrigin
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web.client_cert import certificate_thumbprint, client_certificate
from tollhouse.web.cors import identify
from tollhouse.web.observe import observe_token_response
from tollhouse.web.parsing import dpop_request, header, scope_form
from tollhouse.web.routes import discovery_result, jwks_result
from tollhouse.web.throttle import (
    address_of,
    authentication_failed,
    before_authentication,
    per_client,
    per_device_client,
)

log = logging.getLogger("tollhouse.web")

Handler = Callable[[Provider, Scope, Receive], Awaitable[JsonResult]]


class HotRoute(NamedTuple):
    """One hot endpoint: its path (the metrics' route template) and handler."""

    path: str
    handler: Handler


def request_id(scope: Scope) -> str | None:
    request_id: str | None = scope.get("state", {}).get("request_id")
    return request_id


async def client_request(
    scope: Scope, receive: Receive, cert_header: str | None = None
) -> TokenRequest | JsonResult:
    """The form body and client credentials of a client-authenticated POST endpoint."""
    try:
        params = await scope_form(scope, receive)
        credentials = credentials_from(header(scope, b"authorization"), params)
        # RFC 8705 §2: the TLS client certificate, for the mTLS client methods.
        certificate = client_certificate(scope, cert_header)
        credentials = dataclasses.replace(credentials, certificate=certificate)
    except InvalidClient as error:
        return error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE})
    except OAuthError as error:
        return error_json(error)
    identify(scope, credentials.client_id)
    return TokenRequest(params, credentials)


def log_refusal(scope: Scope, what: str, parsed: TokenRequest, result: JsonResult) -> None:
    if result.error is None:
        return
    log.info(
        f"{what} refused",
        extra={
            "request_id": request_id(scope),
            "error": result.error.error,
            "reason": result.error.debug or result.error.description,
            "client_id": parsed.credentials.client_id,
            "grant_type": parsed.params.get("grant_type"),
        },
    )


async def token(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 6749 §3.2: POST only, form-encoded; responses are never cached."""
    grant_types = provider.token.grant_types
    parsed = await client_request(scope, receive, provider.client_cert_header)
    if isinstance(parsed, JsonResult):
        observe_token_response(None, grant_types, parsed)
        return parsed
    bound = _with_bindings(provider, scope, parsed)
    if isinstance(bound, JsonResult):
        observe_token_response(None, grant_types, bound)
        return bound
    parsed = bound
    limited = await before_authentication(provider, scope, parsed.credentials.client_id or "")
    if limited is not None:
        observe_token_response(None, grant_types, limited)
        return limited
    result = await provider.token.handle(parsed, partial(_admit, provider, scope))
    if result.error is not None and result.error.error == "invalid_client":
        await authentication_failed(provider, scope, parsed.credentials.client_id or "")
    if result.status == 429:  # the per-client limit: logged and counted by its refusal
        observe_token_response(None, grant_types, result)
        return result
    log_refusal(scope, "token request", parsed, result)
    observe_token_response(parsed.params.get("grant_type"), grant_types, result)
    return result


def _with_bindings(
    provider: Provider, scope: Scope, parsed: TokenRequest
) -> TokenRequest | JsonResult:
    """The request's DPoP proofs (RFC 9449) and client certificate (RFC 8705), to which
    the tokens will be bound."""
    try:
        certificate = certificate_thumbprint(scope, provider.client_cert_header)
    except OAuthError as error:
        return error_json(error)
    dpop = dpop_request(scope, provider.issuer + "/token")
    return dataclasses.replace(parsed, dpop=dpop, certificate=certificate)


async def _admit(provider: Provider, scope: Scope, client: Client) -> JsonResult | None:
    """The per-client limit, charged only once the client has authenticated."""
    return await per_client(provider, scope, client.client_id)


async def _client_endpoint(
    provider: Provider,
    scope: Scope,
    receive: Receive,
    what: str,
    handle: Callable[[TokenRequest], Awaitable[JsonResult]],
) -> JsonResult:
    parsed = await client_request(scope, receive, provider.client_cert_header)
    if isinstance(parsed, JsonResult):
        return parsed
    result = await handle(parsed)
    log_refusal(scope, what, parsed, result)
    return result


async def revoke(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 7009 §2.1."""
    return await _client_endpoint(
        provider, scope, receive, "revocation request", provider.revocation.handle
    )


async def introspect(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 7662 §2.1."""
    return await _client_endpoint(
        provider, scope, receive, "introspection request", provider.introspection.handle
    )


async def device_authorization(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 8628 §3.1: POST, form-encoded, client-authenticated like /token."""
    user_agent = header(scope, b"user-agent")
    origin = DeviceOrigin(address_of(scope), user_agent)

    async def admit(client: Client) -> JsonResult | None:
        return await per_device_client(provider, scope, client.client_id)

    async def handle(parsed: TokenRequest) -> JsonResult:
        return await provider.device_authorization.handle(parsed, origin, admit)

    return await _client_endpoint(provider, scope, receive, "device authorization", handle)


async def par(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    """RFC 9126 §2.1."""
    return await _client_endpoint(
        provider, scope, receive, "pushed authorization request", provider.par.handle
    )


async def jwks(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    return await jwks_result(provider)


async def discovery(provider: Provider, scope: Scope, receive: Receive) -> JsonResult:
    return await discovery_result(provider)


HOT_ROUTES: dict[tuple[str, str], HotRoute] = {
    ("POST", "/token"): HotRoute("/token", token),
    ("POST", "/introspect"): HotRoute("/introspect", introspect),
    ("POST", "/revoke"): HotRoute("/revoke", revoke),
    ("POST", "/device_authorization"): HotRoute("/device_authorization", device_authorization),
    ("POST", "/par"): HotRoute("/par", par),
    ("GET", "/jwks.json"): HotRoute("/jwks.json", jwks),
    ("GET", "/.well-known/openid-configuration"): HotRoute(
        "/.well-known/openid-configuration", discovery
    ),
    ("GET", "/.well-known/oauth-authorization-server"): HotRoute(
        "/.well-known/oauth-authorization-server", discovery
    ),
}
"""(method, path) → the endpoint the pipeline answers without Starlette."""
