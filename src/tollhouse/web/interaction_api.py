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
from tollhouse.protocol.endpoints.interaction import (
    ConsentAccepted,
    LoginAccepted,
    Rejected,
    WrongBrowser,
)
from tollhouse.protocol.events import ConsentDecided, LoginSucceeded
from tollhouse.protocol.results import JsonResult, error_json
from tollhouse.provider import Provider
from tollhouse.web.interaction import (
    cookie_name,
    current_user,
    error_page,
    establish_session,
    respond,
    set_session_cookie,
)
from tollhouse.web.rendering import json_response, redirect

MAX_BODY = 16 * 1024


def _provider(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


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
    provider = _provider(request)
    refused = await provider.interactions.authenticate(request.headers.get("authorization"))
    if refused is not None:
        return json_response(refused)
    result = await provider.interactions.describe(request.path_params["interaction_id"])
    return json_response(result)


def _answer(
    pick: Callable[[Provider], Callable[[str, Mapping[str, Any]], Awaitable[JsonResult]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        provider = _provider(request)
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
    provider = _provider(request)
    try:
        redeemed = await provider.interactions.redeem(
            request.query_params.get("verifier"),
            request.cookies.get(cookie_name(provider, "tollhouse_csrf")),
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    decision = redeemed.decision
    client = redeemed.client
    auth_request = redeemed.state.request
    if isinstance(decision, Rejected):
        if redeemed.state.stage == "consent" and redeemed.state.user_id:
            provider.events.emit(
                ConsentDecided(client.client_id, redeemed.state.user_id, allowed=False)
            )
        return redirect(provider.interactions.rejection(redeemed), status=303)
    if isinstance(decision, LoginAccepted):
        session_id, signed_in = await establish_session(
            request, provider, decision.user_id, decision.amr
        )
        provider.events.emit(LoginSucceeded(decision.user_id, client.client_id))
        outcome = await provider.authorize.resume(
            auth_request, client, signed_in, just_signed_in=True
        )
        response = await respond(request, provider, outcome)
        set_session_cookie(response, provider, session_id, remember=decision.remember)
        return response
    if not isinstance(decision, ConsentAccepted):  # pragma: no cover - exhaustive
        raise TypeError(decision)
    user = await current_user(request, provider)
    if user is None:
        return error_page(request, WrongBrowser("The session ended during consent."), None, None)
    try:
        done = await provider.interactions.complete_consent(redeemed, user)
    except OAuthError as error:
        return error_page(request, error, None, None)
    provider.events.emit(
        ConsentDecided(client.client_id, user.user_id, allowed=True, scopes=decision.scopes)
    )
    return redirect(done, status=303)


def routes() -> list[Route]:
    prefix = "/admin/interactions/{interaction_id}"
    return [
        Route(prefix, describe, methods=["GET"]),
        Route(prefix + "/accept-login", accept_login, methods=["PUT"]),
        Route(prefix + "/accept-consent", accept_consent, methods=["PUT"]),
        Route(prefix + "/reject", reject, methods=["PUT"]),
        Route("/interaction/callback", callback, methods=["GET"]),
    ]
