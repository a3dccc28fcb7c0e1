"""The sign-in step after the password: the second factor (``/otp``), or setting one
up when the sign-in needs one and the user has none (``/enroll``).

Both are interactions of their own (protocol/interactions.py, stages ``otp`` and
``enroll``) holding the user whose password was right; the login interaction was
taken, so the password form is not a way back. Codes are counted like passwords
(security/login_guard.py), keyed by the user: wrong codes lock the second step the
way wrong passwords lock the first. The checks are protocol/mfa.py's.
"""

from __future__ import annotations

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tollhouse.errors import OAuthError
from tollhouse.protocol.interactions import InteractionRefused, Pending, Stage
from tollhouse.protocol.mfa import Enrollment
from tollhouse.provider import Provider
from tollhouse.web import throttle
from tollhouse.web.cookies import CSRF, SESSION, read_cookie, set_session_cookie
from tollhouse.web.pages import error_page, messages_of, provider_of, render, respond
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.sign_in_forms import form_targets


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code: no script, no image request, and a
    white quiet zone so it scans in dark mode too."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=4, light="#fff", dark="#000")
    return Markup(svg)  # noqa: S704 - segno's own markup of an escaped URI


def guard_key(user_id: str) -> str:
    """The lockout count of a user's second step, apart from the password's."""
    return f"mfa:{user_id}"


async def _page(
    request: Request,
    provider: Provider,
    pending: Pending,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    messages = messages_of(request, pending.request.ui_locales)
    context: dict[str, object] = {
        "client_name": pending.client.name,
        "csrf_token": read_cookie(request, provider, CSRF) or "",
        "interaction": pending.interaction_id,
        "error": error,
    }
    template = "otp.html"
    options = await provider.sign_in.passkey_options(pending)
    context.update(passkey_options=options, passkey_needed=pending.request.phr)
    context.update(has_totp=await provider.sign_in.has_totp(pending))
    if pending.state.stage == "enroll":
        enrollment = await provider.sign_in.enrollment(pending)
        if enrollment is None:
            return error_page(request, _expired(), None, None, messages=messages)
        context.update(_enrollment_context(enrollment), action="/enroll")
        template = "enroll.html"
    return render(
        request,
        provider,
        template,
        context,
        messages=messages,
        status=status,
        form_targets=form_targets(pending),
        scripts=options is not None,
    )


def _enrollment_context(enrollment: Enrollment) -> dict[str, object]:
    return {"qr_svg": qr_svg(enrollment.uri), "secret": enrollment.secret}


def _expired() -> OAuthError:
    return InteractionRefused("error.interaction_expired", "The sign-in request expired.")


async def _show(request: Request, stage: Stage) -> Response:
    provider = provider_of(request)
    try:
        interaction = query_parameters(request).get("interaction")
        pending = await provider.sign_in.open(interaction, stage)
    except OAuthError as error:
        return error_page(request, error, None, None)
    return await _page(request, provider, pending)


async def _submit(request: Request, stage: Stage) -> Response:
    provider = provider_of(request)
    try:
        form = await form_parameters(request)
        pending = await provider.sign_in.open(form.get("interaction"), stage)
        provider.sign_in.check_csrf(
            pending, form.get("csrf_token"), read_cookie(request, provider, CSRF)
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    messages = messages_of(request, pending.request.ui_locales)
    key = guard_key(pending.state.user_id or "")
    lockout = await throttle.login_attempt(request, provider, key)
    if lockout is not None:
        text = messages("login.locked", wait=messages.wait(lockout.retry_after))
        page = await _page(request, provider, pending, error=text, status=429)
        page.headers["Retry-After"] = str(lockout.retry_after)
        return page
    try:
        logged_in = await provider.sign_in.check_second_factor(
            pending,
            form.get("otp", ""),
            read_cookie(request, provider, SESSION),
            passkey=form.get("passkey", ""),
        )
    except OAuthError as error:
        return error_page(request, error, None, None, messages=messages)
    if logged_in is None:
        return await _page(request, provider, pending, error=messages("otp.failed"), status=400)
    await throttle.login_succeeded(request, provider, key)
    response = await respond(request, provider, logged_in.outcome)
    set_session_cookie(response, provider, logged_in.cookie)
    return response


async def otp_get(request: Request) -> Response:
    return await _show(request, "otp")


async def otp_post(request: Request) -> Response:
    return await _submit(request, "otp")


async def enroll_get(request: Request) -> Response:
    return await _show(request, "enroll")


async def enroll_post(request: Request) -> Response:
    return await _submit(request, "enroll")


def second_step(location: str) -> Response:
    """After the right password: on to the second factor's page."""
    return RedirectResponse(location, status_code=303)


def routes() -> list[Route]:
    return [
        Route("/otp", otp_get, methods=["GET"]),
        Route("/otp", otp_post, methods=["POST"]),
        Route("/enroll", enroll_get, methods=["GET"]),
        Route("/enroll", enroll_post, methods=["POST"]),
    ]
