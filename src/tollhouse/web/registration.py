"""``/register`` (RFC 7591) and ``/register/{client_id}`` (RFC 7592) over HTTP.

The body is read whatever the Content-Type says: the contract accepts a JSON object
sent as ``curl -d '{…}'`` (form type) or with no type at all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollhouse.errors import InvalidRequest, OAuthError
from tollhouse.protocol.endpoints.registration import REGISTRATION_PATH, RegistrationEndpoint
from tollhouse.protocol.results import NO_STORE, JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web.parsing import read_body
from tollhouse.web.rendering import json_response


def _endpoint(request: Request) -> RegistrationEndpoint:
    provider: Provider = request.app.state.provider
    return provider.registration


def _render(result: JsonResult) -> Response:
    if result.status == 204:
        return Response(status_code=204, headers=result.headers)
    return json_response(result)


async def _body(request: Request) -> bytes | Response:
    try:
        return await read_body(request)
    except OAuthError as error:
        return _render(error_json(error))


async def register(request: Request) -> Response:
    """RFC 7591 §3.1: POST a JSON object of client metadata."""
    body = await _body(request)
    if isinstance(body, Response):
        return body
    result = await _endpoint(request).register(body, request.headers.get("authorization"))
    return _render(result)


async def configuration(request: Request) -> Response:
    """RFC 7592 §2: read (GET), update (PUT) or delete (DELETE) a registration."""
    endpoint = _endpoint(request)
    client_id = request.path_params["client_id"]
    authorization = request.headers.get("authorization")
    if request.method == "GET":
        return _render(await endpoint.read(client_id, authorization))
    if request.method == "DELETE":
        return _render(await endpoint.delete(client_id, authorization))
    if request.method != "PUT":  # HEAD: a read would rotate a token nobody receives
        return await not_allowed(request)
    body = await _body(request)
    if isinstance(body, Response):
        return body
    return _render(await endpoint.update(client_id, authorization, body))


async def not_allowed(request: Request) -> Response:
    allow = "POST" if request.url.path == REGISTRATION_PATH else "GET, PUT, DELETE"
    error = InvalidRequest(f"{request.method} is not allowed here; use {allow}.")
    return _render(JsonResult(405, error.to_dict(), {**NO_STORE, "Allow": allow}))


def routes() -> list[Route]:
    return [
        Route(REGISTRATION_PATH, register, methods=["POST"]),
        Route(REGISTRATION_PATH, not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"]),
        Route(REGISTRATION_PATH + "/{client_id}", configuration, methods=["GET", "PUT", "DELETE"]),
        Route(REGISTRATION_PATH + "/{client_id}", not_allowed, methods=["POST", "PATCH"]),
    ]
