"""Protocol endpoints over HTTP: discovery, JWKS, authorize, token, health."""

from __future__ import annotations

import dataclasses
from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.errors import InvalidClient, InvalidRequest, OAuthError
from tollhouse.protocol.client_auth import (
    ASSERTION_PARAMETERS,
    BASIC_CHALLENGE,
    credentials_from,
)
from tollhouse.protocol.endpoints import discovery
from tollhouse.protocol.endpoints.authorize import AuthorizeOutcome
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web import interaction, openapi
from tollhouse.web.client_cert import client_certificate
from tollhouse.web.messages import LOCALES
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.rendering import json_body, json_response

UI_LOCALES = LOCALES  # web/messages.py


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


async def discovery_result(provider: Provider) -> JsonResult:
    """The discovery document; rebuilt only when something it lists changes (the key
    holds every input; the cache is the provider's own)."""
    apis = await provider.api_index.get()
    extra = provider.registration.discovery_endpoints()
    grant_types, algs = provider.token.grant_types, tuple(provider.keyring.algorithms)
    # The index stands for the API list by identity: one object per registry load.
    key = (provider.issuer, apis, algs, grant_types, tuple(sorted(extra.items())))
    cached = provider.discovery_cache.get(key)
    if cached is None:
        doc = discovery.metadata(
            issuer=provider.issuer,
            scopes=list(apis.listed),
            grant_types=grant_types,
            signing_algs=algs,
            ui_locales=UI_LOCALES,
            extra_endpoints=extra,
            require_par=provider.require_par,
            fapi2=provider.fapi2,
            dpop_algs=() if provider.token.dpop is None else provider.token.dpop.algs,
            certificate_bound=provider.client_certificates,
            acr_values=provider.sign_in.acr_values_supported,
        )
        if provider.mtls_base_url:
            aliases = discovery.mtls_aliases(doc, provider.issuer, provider.mtls_base_url)
            doc["mtls_endpoint_aliases"] = aliases
        cached = JsonResult(200, doc, {"Cache-Control": "public, max-age=300"})
        provider.discovery_cache.put(key, cached)
    return cached


async def jwks_result(provider: Provider) -> JsonResult:
    return JsonResult(200, provider.keyring.jwks(), {"Cache-Control": "public, max-age=300"})


async def openid_configuration(request: Request) -> Response:
    """``HEAD`` (``GET`` is a hot endpoint, web/fast_lane.py)."""
    return json_response(await discovery_result(provider_of(request)))


async def jwks(request: Request) -> Response:
    """``HEAD`` (``GET`` is a hot endpoint, web/fast_lane.py)."""
    return json_response(await jwks_result(provider_of(request)))


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


async def revocations(request: Request) -> Response:
    """The signed revocation feed for resource servers."""
    provider = provider_of(request)
    try:
        params = query_parameters(request)
        # A GET: private_key_jwt's parameters (RFC 7523 §2.2) come in the query.
        assertion = {k: v for k, v in params.items() if k in ASSERTION_PARAMETERS}
        credentials = credentials_from(request.headers.get("authorization"), assertion)
        pem = client_certificate(request.scope, provider.client_cert_header)
        credentials = dataclasses.replace(credentials, certificate=pem)
    except InvalidClient as error:
        return json_response(error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE}))
    except OAuthError as error:
        return json_response(error_json(error))
    result = await provider.revocation_feed.handle(credentials, params.get("since"))
    if isinstance(result, JsonResult):
        return json_response(result)
    return Response(result.jws, 200, {"Cache-Control": "no-store"}, media_type="application/jwt")


async def method_not_allowed(request: Request) -> Response:
    error = InvalidRequest(f"{request.method} is not allowed here; use POST.")
    return json_response(JsonResult(405, error.to_dict(), {**NO_STORE, "Allow": "POST"}))


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def openapi_json(request: Request) -> Response:
    """OpenAPI 3.1 description of the JSON endpoints (web/openapi.py)."""
    doc = openapi.document(provider_of(request).issuer, version("tollhouse"))
    return json_body(200, doc, {"Cache-Control": "public, max-age=300"})


def routes() -> list[Route]:
    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", openid_configuration, methods=["GET"]),
        Route("/jwks.json", jwks, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/token", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/revoke", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route(
            "/device_authorization",
            method_not_allowed,
            methods=["GET", "PUT", "DELETE", "PATCH"],
        ),
        Route("/introspect", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/par", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/revocations", revocations, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
