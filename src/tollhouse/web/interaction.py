"""Login and consent pages: the user-facing half of the authorization endpoint.

A pending authorization request is kept server-side as an *interaction*
(protocol/interactions.py) whose id travels in the hidden ``interaction`` input. A
per-browser CSRF token travels in a cookie and in the hidden ``csrf_token`` input; the
interaction stores its hash, so a form is only accepted from the browser that started
the request. Signing in and deciding are protocol/sign_in.py; these handlers parse,
render and set cookies.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tollhouse.errors import InvalidRequest, OAuthError
from tollhouse.protocol.interactions import Pending
from tollhouse.provider import Provider
from tollhouse.security.hash_gate import HashingBusy
from tollhouse.web import throttle
from tollhouse.web.cookies import CSRF, SESSION, read_cookie, set_session_cookie
from tollhouse.web.pages import (
    current_user,
    error_page,
    leave,
    messages_of,
    provider_of,
    render,
    respond,
    session_of,
)
from tollhouse.web.parsing import query_parameters
from tollhouse.web.second_factor import second_step
from tollhouse.web.sign_in_forms import form_targets, pending_form

# web/routes.py shows /authorize outcomes with these.
__all__ = ["current_user", "error_page", "respond", "routes"]


async def _login_page(
    request: Request,
    provider: Provider,
    pending: Pending,
    *,
    error: str | None = None,
    username: str | None = None,
    status: int = 200,
) -> Response:
    messages = messages_of(request, pending.request.ui_locales)
    signed_in = await session_of(request, provider)
    return render(
        request,
        provider,
        "login.html",
        {
            "client_name": pending.client.name,
            "csrf_token": read_cookie(request, provider, CSRF) or "",
            "interaction": pending.interaction_id,
            "error": error,
            "notice": messages("login.reauthenticate") if signed_in and not error else None,
            "username": username or pending.request.login_hint,
            "passwordless": provider.sign_in.passwordless,
            "passkey_needed": pending.request.phr,
        },
        messages=messages,
        status=status,
        form_targets=form_targets(pending),
    )


async def _refused(
    request: Request, pending: Pending, text: str, username: str, status: int, retry_after: int
) -> Response:
    """The sign-in page again, saying why and for how long (429 or 503 + Retry-After)."""
    provider = provider_of(request)
    page = await _login_page(
        request, provider, pending, error=text, username=username, status=status
    )
    page.headers["Retry-After"] = str(retry_after)
    return page


async def login_get(request: Request) -> Response:
    provider = provider_of(request)
    try:
        interaction = query_parameters(request).get("interaction")
        pending = await provider.sign_in.open(interaction, "login")
    except OAuthError as error:
        return error_page(request, error, None, None)
    return await _login_page(request, provider, pending)


async def login_post(request: Request) -> Response:
    provider = provider_of(request)
    try:
        pending, form = await pending_form(request, provider, "login")
    except OAuthError as error:
        return error_page(request, error, None, None)
    messages = messages_of(request, pending.request.ui_locales)
    username = form.get("username", "")
    # Brute-force protection before the password is checked (web/throttle.py).
    lockout = await throttle.login_attempt(request, provider, username)
    if lockout is not None:
        text = messages("login.locked", wait=messages.wait(lockout.retry_after))
        return await _refused(request, pending, text, username, 429, lockout.retry_after)
    try:
        user_id = await provider.sign_in.check_password(pending, username, form.get("password", ""))
    except HashingBusy as busy:  # too many password checks at once (security/hash_gate.py)
        await throttle.login_unchecked(request, provider, username)
        text = messages("login.busy", wait=messages.wait(busy.retry_after))
        return await _refused(request, pending, text, username, 503, busy.retry_after)
    if user_id is None:
        failed = messages("login.failed")
        return await _login_page(
            request, provider, pending, error=failed, username=username, status=400
        )
    await throttle.login_succeeded(request, provider, username)
    try:
        csrf = read_cookie(request, provider, CSRF)
        step = await provider.sign_in.second_step(pending, user_id, csrf)
        if step is not None:
            return second_step(step.location)
        logged_in = await provider.sign_in.log_in(
            pending, user_id, read_cookie(request, provider, SESSION)
        )
    except OAuthError as error:
        return error_page(request, error, None, None, messages=messages)
    response = await respond(request, provider, logged_in.outcome)
    set_session_cookie(response, provider, logged_in.cookie)
    return response


async def _consent_page(request: Request, provider: Provider, pending: Pending) -> Response:
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return RedirectResponse(f"/login?interaction={pending.interaction_id}", status_code=303)
    messages = messages_of(request, pending.request.ui_locales)
    view = await provider.sign_in.consent_view(pending, signed_in)
    device = await provider.device.of(pending.request)
    return render(
        request,
        provider,
        "consent.html",
        {
            "client_name": pending.client.name,
            "username": view.username,
            "scopes": [
                {"name": s, "text": messages.scope(s, view.scope_descriptions.get(s))}
                for s in pending.request.scopes
            ],
            "audience": view.api_name,
            "redirect_host": urlsplit(pending.request.redirect_uri).netloc,
            "third_party": pending.client.self_registered,
            # RFC 8628 §5.4: where the device asked from, so a person can tell a
            # request sent to them by someone else.
            "device_ip": None if device is None else device.ip or "?",
            "device_agent": None if device is None else device.user_agent or "?",
            "csrf_token": read_cookie(request, provider, CSRF) or "",
            "interaction": pending.interaction_id,
        },
        messages=messages,
        form_targets=form_targets(pending),
    )


async def consent_get(request: Request) -> Response:
    provider = provider_of(request)
    try:
        interaction = query_parameters(request).get("interaction")
        pending = await provider.sign_in.open(interaction, "consent")
    except OAuthError as error:
        return error_page(request, error, None, None)
    return await _consent_page(request, provider, pending)


async def consent_post(request: Request) -> Response:
    provider = provider_of(request)
    try:
        pending, form = await pending_form(request, provider, "consent")
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise InvalidRequest("The decision must be allow or deny.")
    except OAuthError as error:
        return error_page(request, error, None, None)
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return RedirectResponse(f"/login?interaction={pending.interaction_id}", status_code=303)
    try:
        outcome = await provider.sign_in.decide_consent(
            pending, signed_in, allowed=decision == "allow"
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    messages = messages_of(request, pending.request.ui_locales)
    return leave(request, outcome, status=303, messages=messages)


def routes() -> list[Route]:
    return [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/consent", consent_get, methods=["GET"]),
        Route("/consent", consent_post, methods=["POST"]),
    ]
