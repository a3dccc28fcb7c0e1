"""``/logout`` (OIDC RP-Initiated Logout 1.0) and ``/userinfo`` (OIDC Core §5.3)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.errors import OAuthError
from tollhouse.protocol.endpoints.logout import LogoutRequest
from tollhouse.protocol.results import Redirect
from tollhouse.provider import Provider
from tollhouse.randomness import equal, token
from tollhouse.web.client_cert import certificate_thumbprint
from tollhouse.web.cookies import CSRF, SESSION, delete_cookie, read_cookie, set_cookie
from tollhouse.web.cors import identify
from tollhouse.web.messages import Messages
from tollhouse.web.pages import (
    PageRefused,
    error_page,
    leave,
    messages_of,
    provider_of,
    render,
    session_of,
)
from tollhouse.web.parsing import (
    check_form_type,
    dpop_request,
    form_parameters,
    parse_form,
    query_parameters,
    read_body,
)

log = logging.getLogger("tollhouse.web")

FORWARDED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


async def logout(request: Request) -> Response:
    """GET shows a confirmation (or logs out at once for a matching id_token_hint);
    POST with the page's CSRF token logs out."""
    provider = provider_of(request)
    try:
        if request.method == "POST":
            params = await form_parameters(request)
        else:
            params = query_parameters(request)
        logout_request = await provider.logout.validate(params)
    except OAuthError as error:
        return error_page(request, error, None, None)
    messages = messages_of(request, params.get("ui_locales"))
    session = await session_of(request, provider)
    if session is None:
        return _finished(request, provider, logout_request, messages)
    confirmed = request.method == "POST" and params.get("confirm") == "yes"
    if confirmed:
        csrf = read_cookie(request, provider, CSRF)
        sent = params.get("csrf_token")
        if not csrf or not sent or not equal(csrf, sent):
            refused = PageRefused("logout.expired")
            return error_page(request, refused, None, None, messages=messages)
    elif not provider.logout.ends_without_asking(logout_request, session):
        return _confirmation(request, provider, params, logout_request, messages)
    await provider.sessions.end(session, "logout")
    response = _finished(request, provider, logout_request, messages)
    delete_cookie(response, provider, SESSION)
    return response


def _confirmation(
    request: Request,
    provider: Provider,
    params: dict[str, str],
    logout_request: LogoutRequest,
    messages: Messages,
) -> Response:
    csrf = read_cookie(request, provider, CSRF)
    if not csrf or len(csrf) > 128:
        csrf = token(32)
    response = render(
        request,
        provider,
        "logout.html",
        {
            "csrf_token": csrf,
            "hidden": [(k, params[k]) for k in FORWARDED if k in params],
        },
        messages=messages,
        form_targets=_origin(provider.logout.destination(logout_request)),
    )
    set_cookie(response, provider, CSRF, csrf, None)
    return response


def _origin(destination: Redirect | None) -> tuple[str, ...]:
    """Browsers apply ``form-action`` to the redirect after the post: the confirmed
    sign-out goes on to the (registered, exact-matched) post_logout_redirect_uri —
    unless the notice before a self-registered client's host comes first."""
    if destination is None or destination.third_party:
        return ()
    parts = urlsplit(destination.location)
    return (f"{parts.scheme}://{parts.netloc}",)


def _finished(
    request: Request, provider: Provider, logout_request: LogoutRequest, messages: Messages
) -> Response:
    destination = provider.logout.destination(logout_request)
    if destination is not None:
        return leave(request, destination, status=303, messages=messages)
    return render(request, provider, "logged_out.html", {}, messages=messages)


async def _userinfo_form(request: Request) -> dict[str, str] | None:
    """OIDC Core §5.3.1 allows POST with the token in the ``Authorization`` header and no
    body, whatever Content-Type the RP library declares; a body is RFC 6750 §2.2's form."""
    body = await read_body(request)
    if not body:
        return None
    check_form_type(request.headers.get("content-type"))
    return parse_form(body)


async def userinfo(request: Request) -> Response:
    provider = provider_of(request)
    form = None
    try:
        if request.method == "POST":
            form = await _userinfo_form(request)
    except OAuthError as error:
        return JSONResponse(error.to_dict(), status_code=400, headers={"Cache-Control": "no-store"})
    try:
        certificate = certificate_thumbprint(request.scope, provider.client_cert_header)
    except OAuthError as error:
        return JSONResponse(error.to_dict(), status_code=400, headers={"Cache-Control": "no-store"})
    result = await provider.userinfo.handle(
        request.headers.get("authorization"),
        form,
        dpop_request(request.scope, provider.issuer + "/userinfo"),
        certificate,
    )
    identify(request.scope, result.client_id)
    headers = {"Cache-Control": "no-store"}
    if result.www_authenticate:
        headers["WWW-Authenticate"] = result.www_authenticate
    if result.status == 401 and not result.body:
        return Response(status_code=401, headers=headers)
    return JSONResponse(result.body, status_code=result.status, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/logout", logout, methods=["GET", "POST"]),
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
    ]
