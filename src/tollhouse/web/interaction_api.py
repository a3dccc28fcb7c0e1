"""HTTP of the interaction API (protocol/endpoints/interaction.py; docs/oidc.md).

Admin side, ``Authorization: Bearer <admin token>``, JSON in and out:

- ``GET  /admin/interactions/{id}``                → the pending request
- ``PUT  /admin/interactions/{id}/accept-login``   → ``{"redirect_to": …}``
- ``PUT  /admin/interactions/{id}/accept-consent`` → ``{"redirect_to": …}``
- ``PUT  /admin/interactions/{id}/reject``         → ``{"redirect_to": …}``

Browser side: ``GET /interaction/callback?verifier=…`` (the ``redirect_to``) carries on
as the built-in pages would: session cookie, consent, code or error to the client.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollhouse.errors import InvalidRequest, OAuthError
from tollhouse.protocol.results import JsonResult, Redirect, error_json
from tollhouse.provider import Provider
from tollhouse.web.cookies import CSRF, SESSION, read_cookie, set_session_cookie
from tollhouse.web.pages import error_page, leave, provider_of, respond
from tollhouse.web.rendering import json_response

MAX_BODY = 16 * 1024


async def _json_object(request: Request) -> Mapping[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidRequest("The body must be application/json.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidRequest("The body is too large.")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


async def describe(request: Request) -> Response:
    provider = provider_of(request)
    refused = await provider.interactions.authenticate(request.headers.get("authorization"))
    if refused is not None:
        return json_response(refused)
    result = await provider.interactions.describe(request.path_params["interaction_id"])
    return json_response(result)


def _answer(
    pick: Callable[[Provider], Callable[[str, Mapping[str, Any]], Awaitable[JsonResult]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        provider = provider_of(request)
        refused = await provider.interactions.authenticate(request.headers.get("authorization"))
        if refused is not None:
            return json_response(refused)
        try:
            body = await _json_object(request)
        except OAuthError as error:
            return json_response(error_json(error))
        handler = pick(provider)
        return json_response(await handler(request.path_params["interaction_id"], body))

    return endpoint


accept_login = _answer(lambda p: p.interactions.accept_login)
accept_consent = _answer(lambda p: p.interactions.accept_consent)
reject = _answer(lambda p: p.interactions.reject)


async def callback(request: Request) -> Response:
    """The browser follows ``redirect_to``: finish what the operator's app decided."""
    provider = provider_of(request)
    try:
        finished = await provider.interactions.finish(
            request.query_params.get("verifier"),
            read_cookie(request, provider, CSRF),
            read_cookie(request, provider, SESSION),
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    if finished.cookie is None and isinstance(finished.outcome, Redirect):
        return leave(request, finished.outcome, status=303)  # a rejection or a consent's code
    response = await respond(request, provider, finished.outcome)
    if finished.cookie is not None:
        set_session_cookie(response, provider, finished.cookie)
    return response


def routes() -> list[Route]:
    prefix = "/admin/interactions/{interaction_id}"
    return [
        Route(prefix, describe, methods=["GET"]),
        Route(prefix + "/accept-login", accept_login, methods=["PUT"]),
        Route(prefix + "/accept-consent", accept_consent, methods=["PUT"]),
        Route(prefix + "/reject", reject, methods=["PUT"]),
        Route("/interaction/callback", callback, methods=["GET"]),
    ]
