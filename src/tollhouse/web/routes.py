"""Protocol endpoints over HTTP: discovery, JWKS, authorize, token, health."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.errors import InvalidClient, InvalidRequest, OAuthError, SlowDown
from tollhouse.observability import metrics
from tollhouse.protocol.client_auth import BASIC_CHALLENGE, credentials_from
from tollhouse.protocol.endpoints import discovery
from tollhouse.protocol.endpoints.authorize import AuthorizeOutcome
from tollhouse.protocol.requests import TokenRequest
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web import interaction, openapi
from tollhouse.web.messages import LOCALES
from tollhouse.web.observe import observe_token_response
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.rendering import json_body, json_response

log = logging.getLogger("tollhouse.web")
UI_LOCALES = LOCALES  # web/messages.py


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


async def openid_configuration(request: Request) -> Response:
    provider = provider_of(request)
    await provider.keyring.maybe_reload()
    apis = await provider.apis.list_apis()
    doc = discovery.metadata(
        issuer=provider.issuer,
        scopes=[scope for api in apis for scope in api.scopes],
        grant_types=provider.token.grant_types,
        signing_algs=provider.keyring.algorithms,
        ui_locales=UI_LOCALES,
        extra_endpoints=provider.registration.discovery_endpoints(),
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


async def _client_request(request: Request) -> TokenRequest | Response:
    """The form body and client credentials of a client-authenticated POST endpoint."""
    try:
        params = await form_parameters(request)
        credentials = credentials_from(request.headers.get("authorization"), params)
    except InvalidClient as error:
        return json_response(error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE}))
    except OAuthError as error:
        return json_response(error_json(error))
    return TokenRequest(params, credentials)


def _log_refusal(request: Request, what: str, parsed: TokenRequest, result: JsonResult) -> None:
    if result.error is None:
        return
    log.info(
        f"{what} refused",
        extra={
            "request_id": request.scope["state"].get("request_id"),
            "error": result.error.error,
            "reason": result.error.debug or result.error.description,
            "client_id": parsed.credentials.client_id,
            "grant_type": parsed.params.get("grant_type"),
        },
    )


async def _client_rate_limit(provider: Provider, parsed: TokenRequest) -> Response | None:
    """Per client_id limit on /token (the per-IP one runs before parsing), so guessing a
    client's secret from many addresses is slowed down too."""
    client_id = parsed.credentials.client_id
    if not client_id:
        return None
    decision = await provider.rate_limits.take("token_client", client_id[:256])
    if decision.allowed:
        return None
    metrics.rate_limited("/token")
    error = SlowDown(f"Too many requests for this client; retry after {decision.retry_after} s.")
    return json_response(error_json(error, headers={"Retry-After": str(decision.retry_after)}))


async def token(request: Request) -> Response:
    """RFC 6749 §3.2: POST only, form-encoded; responses are never cached."""
    provider = provider_of(request)
    parsed = await _client_request(request)
    if isinstance(parsed, Response):
        observe_token_response(None, provider.token.grant_types, parsed)
        return parsed
    limited = await _client_rate_limit(provider, parsed)
    if limited is not None:
        observe_token_response(None, provider.token.grant_types, limited)
        return limited
    await provider.keyring.maybe_reload()
    result = await provider.token.handle(parsed)
    _log_refusal(request, "token request", parsed, result)
    observe_token_response(parsed.params.get("grant_type"), provider.token.grant_types, result)
    return json_response(result)


async def _client_endpoint(
    request: Request,
    what: str,
    handle: Callable[[Provider], Callable[[TokenRequest], Awaitable[JsonResult]]],
) -> Response:
    """Parse a client-authenticated form POST, call the endpoint, log a refusal."""
    provider = provider_of(request)
    parsed = await _client_request(request)
    if isinstance(parsed, Response):
        return parsed
    await provider.keyring.maybe_reload()
    result = await handle(provider)(parsed)
    _log_refusal(request, what, parsed, result)
    return json_response(result)


async def revoke(request: Request) -> Response:
    """RFC 7009 §2.1."""
    return await _client_endpoint(request, "revocation request", lambda p: p.revocation.handle)


async def introspect(request: Request) -> Response:
    """RFC 7662 §2.1."""
    return await _client_endpoint(
        request, "introspection request", lambda p: p.introspection.handle
    )


async def revocations(request: Request) -> Response:
    """The signed revocation feed for resource servers."""
    provider = provider_of(request)
    try:
        params = query_parameters(request)
        credentials = credentials_from(request.headers.get("authorization"), {})
    except InvalidClient as error:
        return json_response(error_json(error, headers={"WWW-Authenticate": BASIC_CHALLENGE}))
    except OAuthError as error:
        return json_response(error_json(error))
    await provider.keyring.maybe_reload()
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
        Route("/token", token, methods=["POST"]),
        Route("/token", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/revoke", revoke, methods=["POST"]),
        Route("/revoke", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/introspect", introspect, methods=["POST"]),
        Route("/introspect", method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route("/revocations", revocations, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
