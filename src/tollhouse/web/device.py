"""The device flow's verification page, ``/device`` (RFC 8628 §3.3).

A person types the code their device shows (or arrives from
``verification_uri_complete`` with it filled in, and confirms it); the request it
names then goes through the usual login and consent pages, or the operator's own
through the interaction API (protocol/device.py). The form carries the per-browser
CSRF token of the other pages.

Guessing codes is slowed twice (RFC 8628 §5.1): every request to the page spends the
address's ``TOLLHOUSE_RATE_LIMIT_DEVICE`` bucket, and a wrong code spends one of 5 a
minute for the address and one of 5 a minute for the browser (its CSRF cookie). Once
either is empty every code is refused with the same answer, right or wrong, so the
lockout tells nothing about which codes exist.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollhouse.errors import OAuthError
from tollhouse.observability import metrics
from tollhouse.protocol import user_codes
from tollhouse.protocol.device import APPROVED, DENIED, EXPIRED
from tollhouse.provider import Provider
from tollhouse.randomness import equal, fingerprint, token
from tollhouse.web.cookies import CSRF, read_cookie, set_cookie
from tollhouse.web.pages import (
    PageRefused,
    current_user,
    error_page,
    messages_of,
    provider_of,
    render,
    respond,
)
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.throttle import client_ip

PATH = "/device"
RESULTS = frozenset({APPROVED, DENIED, EXPIRED})
WRONG_CODES = "device_user_code"
"""The rate limit of wrong user codes (provider/operations.py)."""


def _page(
    request: Request,
    provider: Provider,
    csrf: str,
    *,
    user_code: str | None = None,
    result: str | None = None,
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    response = render(
        request,
        provider,
        "device.html",
        {"csrf_token": csrf, "user_code": user_code, "result": result, "error": error},
        status=status,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _over_limit(request: Request, provider: Provider, csrf: str) -> Response | None:
    """The address's ``TOLLHOUSE_RATE_LIMIT_DEVICE`` for this page: a 429 page if spent."""
    decision = await provider.rate_limits.take("device", f"page:{client_ip(request)}")
    if decision.allowed:
        return None
    return _locked(request, provider, csrf, decision.retry_after)


def _locked(request: Request, provider: Provider, csrf: str, retry_after: int) -> Response:
    metrics.rate_limited(PATH)
    messages = messages_of(request)
    text = messages("device.locked", wait=messages.wait(retry_after))
    return _page(request, provider, csrf, error=text, status=429, retry_after=retry_after)


def _wrong_code_keys(request: Request, csrf: str) -> tuple[str, str]:
    return f"ip:{client_ip(request)}", f"browser:{fingerprint(csrf)}"


async def _lockout(request: Request, provider: Provider, csrf: str) -> int | None:
    """Seconds to wait when this address or browser typed too many wrong codes."""
    for key in _wrong_code_keys(request, csrf):
        decision = await provider.rate_limits.take(WRONG_CODES, key, cost=0)
        if not decision.allowed:
            return decision.retry_after
    return None


async def device_get(request: Request) -> Response:
    provider = provider_of(request)
    cookie = read_cookie(request, provider, CSRF)
    csrf = cookie or token(32)
    limited = await _over_limit(request, provider, csrf)
    if limited is not None:
        return limited
    try:
        params = query_parameters(request)
    except OAuthError as error:
        return error_page(request, error, None, None)
    result = params.get("result")
    letters = user_codes.normalize(params.get("user_code"))
    response = _page(
        request,
        provider,
        csrf,
        user_code=None if letters is None else user_codes.display(letters),
        result=result if result in RESULTS else None,
    )
    if cookie is None:
        set_cookie(response, provider, CSRF, csrf, None)
    return response


async def device_post(request: Request) -> Response:
    provider = provider_of(request)
    cookie = read_cookie(request, provider, CSRF)
    try:
        form = await form_parameters(request)
        sent = form.get("csrf_token")
        if not sent or not cookie or not equal(sent, cookie):
            raise PageRefused("error.form_expired")
    except OAuthError as error:
        return error_page(request, error, None, None)
    limited = await _over_limit(request, provider, cookie)
    if limited is not None:
        return limited
    wait = await _lockout(request, provider, cookie)
    if wait is not None:
        return _locked(request, provider, cookie, wait)
    typed = form.get("user_code")
    started = await provider.device.start(typed)
    if started is None:
        for key in _wrong_code_keys(request, cookie):
            await provider.rate_limits.take(WRONG_CODES, key)
        text = messages_of(request)("device.wrong")
        shown = (typed or "")[: user_codes.MAX_INPUT]
        return _page(request, provider, cookie, user_code=shown, error=text, status=400)
    authorization, client = started
    signed_in = await current_user(request, provider)
    outcome = await provider.authorize.resume(authorization, client, signed_in)
    return await respond(request, provider, outcome)


def routes() -> list[Route]:
    return [
        Route(PATH, device_get, methods=["GET"]),
        Route(PATH, device_post, methods=["POST"]),
    ]
