"""``/account/security``: a signed-in user sets up an authenticator app (QR code as
inline SVG, the key as text, confirmed by a first code) and makes recovery codes.

Forms carry the per-browser CSRF token (cookie and hidden field must match; the
cookie is SameSite=Lax), like the logout page. A user who already has a factor changes
it only from a session that passed it (protocol/mfa.py ``may_change_factors``). The
first code is counted like a sign-in code (security/login_guard.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollhouse.protocol.mfa import may_change_factors
from tollhouse.protocol.sessions import SignedIn
from tollhouse.provider import Provider
from tollhouse.randomness import equal, token
from tollhouse.web import throttle
from tollhouse.web.cookies import CSRF, read_cookie, set_cookie
from tollhouse.web.messages import Messages
from tollhouse.web.pages import PageRefused, current_user, error_page, messages_of, provider_of
from tollhouse.web.pages import render as render_page
from tollhouse.web.parsing import form_parameters
from tollhouse.web.second_factor import guard_key, qr_svg

PATH = "/account/security"


def _csrf(request: Request, provider: Provider) -> str:
    csrf = read_cookie(request, provider, CSRF)
    return csrf if csrf and len(csrf) <= 128 else token(32)


async def _overview(
    request: Request,
    provider: Provider,
    signed_in: SignedIn | None,
    *,
    status: int = 200,
    **shown: object,
) -> Response:
    csrf = _csrf(request, provider)
    context: dict[str, object] = {"csrf_token": csrf, "username": None, **shown}
    if signed_in is not None:
        context.update(await _factors_context(provider, signed_in))
    scripts = bool(context.get("passkey_options"))
    context["passkey_script"] = scripts
    response = render_page(
        request, provider, "account.html", context, status=status, scripts=scripts
    )
    set_cookie(response, provider, CSRF, csrf, None)
    return response


async def _factors_context(provider: Provider, signed_in: SignedIn) -> dict[str, object]:
    """What the page shows of the user's factors, and a passkey ceremony when they may
    add one."""
    user_id = signed_in.user_id
    summary = await provider.factors.summary(user_id)
    totp_on = summary.totp == "confirmed"
    has_factor = totp_on or summary.passkeys > 0
    username = await provider.sign_in.account_name(user_id)
    may_change = may_change_factors(has_factor, signed_in.acr)
    context: dict[str, object] = {
        "username": username,
        "totp_on": totp_on,
        "codes_left": summary.recovery_codes_left,
        "passkeys": summary.passkeys,
        "may_change": may_change,
    }
    if may_change:
        ceremony = await provider.passkeys.registration(user_id, username)
        context.update(passkey_options=ceremony.options, passkey_state=ceremony.state)
    return context


async def security_get(request: Request) -> Response:
    provider = provider_of(request)
    return await _overview(request, provider, await current_user(request, provider))


async def security_post(request: Request) -> Response:
    provider = provider_of(request)
    messages = messages_of(request)
    form = await form_parameters(request)
    csrf, sent = read_cookie(request, provider, CSRF), form.get("csrf_token")
    if not csrf or not sent or not equal(csrf, sent):
        return error_page(request, PageRefused("error.form_expired"), None, None)
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return await _overview(request, provider, None, status=401)
    has_factor = await provider.factors.has_factor(signed_in.user_id)
    if not may_change_factors(has_factor, signed_in.acr):
        return await _overview(request, provider, signed_in, status=403)
    action = form.get("action")
    if action == "enroll":
        return await _enroll(request, provider, signed_in)
    if action == "confirm":
        return await _confirm(request, provider, signed_in, form.get("otp", ""), messages)
    if action == "passkey":
        added = await provider.passkeys.register(
            signed_in.user_id, form.get("passkey_state", ""), form.get("passkey", ""), by="user"
        )
        if added:
            return await _overview(
                request, provider, signed_in, notice=messages("account.passkey_added")
            )
        error = messages("account.passkey_failed")
        return await _overview(request, provider, signed_in, status=400, error=error)
    if action == "recovery-codes" and has_factor:
        codes = await provider.factors.new_recovery_codes(signed_in.user_id, by="user")
        return await _overview(request, provider, signed_in, codes=codes)
    return await _overview(request, provider, signed_in, status=400)


async def _enroll(
    request: Request, provider: Provider, signed_in: SignedIn, error: str | None = None
) -> Response:
    account = await provider.sign_in.account_name(signed_in.user_id)
    enrollment = await provider.factors.pending(signed_in.user_id, account)
    if enrollment is None or error is None:
        enrollment = await provider.factors.enroll(
            signed_in.user_id, account, confirmed=False, by="user"
        )
    csrf = _csrf(request, provider)
    context: dict[str, object] = {
        "qr_svg": qr_svg(enrollment.uri),
        "secret": enrollment.secret,
        "csrf_token": csrf,
        "action": PATH,
        "interaction": None,
        "error": error,
    }
    response = render_page(request, provider, "enroll.html", context, status=400 if error else 200)
    set_cookie(response, provider, CSRF, csrf, None)
    return response


async def _confirm(
    request: Request, provider: Provider, signed_in: SignedIn, code: str, messages: Messages
) -> Response:
    key = guard_key(signed_in.user_id)
    lockout = await throttle.login_attempt(request, provider, key)
    if lockout is not None:
        text = messages("login.locked", wait=messages.wait(lockout.retry_after))
        response = await _overview(request, provider, signed_in, status=429, error=text)
        response.headers["Retry-After"] = str(lockout.retry_after)
        return response
    if not await provider.factors.confirm(signed_in.user_id, code, by="user"):
        return await _enroll(request, provider, signed_in, messages("otp.failed"))
    await throttle.login_succeeded(request, provider, key)
    codes = await provider.factors.new_recovery_codes(signed_in.user_id, by="user")
    notice = messages("account.confirmed")
    return await _overview(request, provider, signed_in, notice=notice, codes=codes)


def routes() -> list[Route]:
    return [
        Route(PATH, security_get, methods=["GET"]),
        Route(PATH, security_post, methods=["POST"]),
    ]
