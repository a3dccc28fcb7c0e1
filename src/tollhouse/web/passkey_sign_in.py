"""Password-less sign-in with a passkey: the login page's "Sign in with a passkey"
(a plain form, so the login page itself runs no script) posts to ``/login/passkey``,
which swaps the login interaction for a ``passkey`` one holding a fresh WebAuthn
challenge; ``/passkey`` shows the one page that loads ``/static/passkey.js``. The
browser offers the passkeys it holds for this server (discoverable credentials) and
names the user; the checks (user verification, counter, origin) are
protocol/passkeys.py's, the sign-in protocol/sign_in.py's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tollhouse.errors import OAuthError
from tollhouse.protocol.interactions import Pending
from tollhouse.provider import Provider
from tollhouse.web.cookies import CSRF, SESSION, read_cookie, set_session_cookie
from tollhouse.web.pages import error_page, messages_of, provider_of, render, respond
from tollhouse.web.parsing import query_parameters
from tollhouse.web.sign_in_forms import form_targets, pending_form


async def _page(
    request: Request, provider: Provider, pending: Pending, *, failed: bool = False
) -> Response:
    messages = messages_of(request, pending.request.ui_locales)
    options = await provider.sign_in.passkey_options(pending)
    return render(
        request,
        provider,
        "passkey.html",
        {
            "client_name": pending.client.name,
            "csrf_token": read_cookie(request, provider, CSRF) or "",
            "interaction": pending.interaction_id,
            "passkey_options": options,
            "error": messages("passkey.sign_in_failed") if failed else None,
        },
        messages=messages,
        status=400 if failed else 200,
        form_targets=form_targets(pending),
        scripts=True,
    )


async def start(request: Request) -> Response:
    """POST /login/passkey: from the password form to the passkey page."""
    provider = provider_of(request)
    try:
        pending, _ = await pending_form(request, provider, "login")
        started = await provider.sign_in.start_passwordless(
            pending, read_cookie(request, provider, CSRF)
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    return RedirectResponse(started.location, status_code=303)


async def show(request: Request) -> Response:
    provider = provider_of(request)
    try:
        interaction = query_parameters(request).get("interaction")
        pending = await provider.sign_in.open(interaction, "passkey")
    except OAuthError as error:
        return error_page(request, error, None, None)
    return await _page(request, provider, pending)


async def submit(request: Request) -> Response:
    """POST /passkey: the browser's assertion, or back to the password form."""
    provider = provider_of(request)
    try:
        pending, form = await pending_form(request, provider, "passkey")
        csrf = read_cookie(request, provider, CSRF)
        if form.get("back"):
            started = await provider.sign_in.back_to_password(pending, csrf)
            return RedirectResponse(started.location, status_code=303)
        logged_in = await provider.sign_in.check_passwordless(
            pending, form.get("passkey", ""), read_cookie(request, provider, SESSION)
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    if logged_in is None:
        return await _page(request, provider, pending, failed=True)
    response = await respond(request, provider, logged_in.outcome)
    set_session_cookie(response, provider, logged_in.cookie)
    return response


def routes() -> list[Route]:
    return [
        Route("/login/passkey", start, methods=["POST"]),
        Route("/passkey", show, methods=["GET"]),
        Route("/passkey", submit, methods=["POST"]),
    ]
