"""Protocol endpoints over HTTP: discovery, JWKS, authorize, token, health."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.errors import InvalidClient, InvalidRequest, OAuthError
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, credentials_from
from tollhouse.protocol.endpoints import discovery
from tollhouse.protocol.endpoints.authorize import AuthorizeOutcome
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web import interaction
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.rendering import json_body, json_response

log = logging.getLogger("tollhouse.web")


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


async def openid_configuration(request: Request) -> Response:
    provider = provider_of(request)
    await provider.keyring.maybe_reload()
    apis = await provider.storage.list_apis()
    doc = discovery.metadata(
        issuer=provider.issuer,
        scopes=[scope for api in apis for scope in api.scopes],
        grant_types=provider.token.grant_types,
        signing_algs=provider.keyring.algorithms,
    )
    return json_body(200, doc, {"Cache-Control": "public, max-age=300"})


async def jwks(request: Request) -> Response:
    provider = provider_of(request)
    await provider.keyring.maybe_reload()
    return json_body(200, provider.keyring.jwks(), {"Cache-Control": "public, max-age=300"})


async def authorize(request: Request) -> Response:
    """RFC 6749 §3.1: GET must be supported; OIDC Core §3.1.2.1 adds POST (form)."""
    provider = provider_of(request)
    try:
        if request.method == "POST":
            params = await form_parameters(request)
        else:
            params = query_parameters(request)
    except OAuthError as error:
        return interaction.error_page(request, error, None, None)
    signed_in = await interaction.current_user(request, provider)
    outcome: AuthorizeOutcome = await provider.authorize.handle(params, signed_in)
    return await interaction.respond(request, provider, outcome)


async def token(request: Request) -> Response:
    """RFC 6749 §3.2: POST only, form-encoded; responses are never cached."""
    provider = provider_of(request)
    try:
        params = await form_parameters(request)
        credentials = credentials_from(request.headers.get("authorization"), params)
    except InvalidClient as error:
        return json_response(error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE}))
    except OAuthError as error:
        return json_response(error_json(error))
    await provider.keyring.maybe_reload()
    result: JsonResult = await provider.token.handle(TokenRequest(params, credentials))
    if result.error is not None:
        log.info(
            "token request refused",
            extra={
                "request_id": request.scope["state"].get("request_id"),
                "error": result.error.error,
                "reason": result.error.debug or result.error.description,
                "client_id": credentials.client_id,
                "grant_type": params.get("grant_type"),
            },
        )
    return json_response(result)


async def method_not_allowed(request: Request) -> Response:
    error = InvalidRequest(f"{request.method} is not allowed here; use POST.")
    return json_response(JsonResult(405, error.to_dict(), {**NO_STORE, "Allow": "POST"}))


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", openid_configuration, methods=["GET"]),
        Route("/jwks.json", jwks, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/token", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
