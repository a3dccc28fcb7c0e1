"""What every built-in page shares: its language, the operator's branding, the error
page, who is signed in, and how an authorization outcome is shown.

Pages speak the language of ``ui_locales`` or ``Accept-Language`` (web/messages.py)
and carry the operator's name and logo (web/branding.py). The rules behind them live
in the protocol: sessions (protocol/sessions.py), interactions and sign-in
(protocol/interactions.py, protocol/sign_in.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tollhouse.errors import OAuthError
from tollhouse.models import Session
from tollhouse.protocol.endpoints.authorize import AuthorizeOutcome, ErrorPage
from tollhouse.protocol.interactions import AnswerExpired, InteractionRefused, WrongBrowser
from tollhouse.protocol.results import Redirect
from tollhouse.protocol.sessions import SignedIn
from tollhouse.provider import Provider
from tollhouse.web import throttle
from tollhouse.web.branding import branding_of
from tollhouse.web.cookies import CSRF, SESSION, read_cookie, set_cookie
from tollhouse.web.messages import EN, Messages, messages_for
from tollhouse.web.rendering import page, redirect

log = logging.getLogger("tollhouse.interaction")


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def messages_of(request: Request, ui_locales: str | None = None) -> Messages:
    """The page locale: ``ui_locales`` (request or query), then ``Accept-Language``."""
    wanted = ui_locales or request.query_params.get("ui_locales")
    return messages_for(wanted, request.headers.get("accept-language"))


def render(
    request: Request,
    provider: Provider,
    template: str,
    context: dict[str, object],
    *,
    messages: Messages | None = None,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
    scripts: bool = False,
) -> Response:
    """``scripts``: the page loads /static/passkey.js (CSP ``script-src 'self'``)."""
    return page(
        template,
        context,
        messages=messages or messages_of(request),
        branding=branding_of(provider.pages),
        status=status,
        form_targets=form_targets,
        scripts=scripts,
    )


async def session_of(request: Request, provider: Provider) -> Session | None:
    """The live session behind the browser's cookie (protocol/sessions.py)."""
    return await provider.sessions.current(read_cookie(request, provider, SESSION))


async def current_user(request: Request, provider: Provider) -> SignedIn | None:
    return await provider.sessions.signed_in(read_cookie(request, provider, SESSION))


class PageRefused(InteractionRefused):
    """A refusal of the pages themselves, shown in the page's language."""

    def __init__(self, key: str) -> None:
        super().__init__(key, EN[key])


_MESSAGE_KEYS: dict[type[OAuthError], str] = {
    AnswerExpired: "error.interaction_expired",
    WrongBrowser: "error.wrong_browser",
}


def error_page(
    request: Request,
    error: OAuthError,
    client_id: str | None,
    redirect_uri: str | None,
    registered: tuple[str, ...] | None = None,
    hint: str | None = None,
    *,
    messages: Messages | None = None,
) -> Response:
    request_id = _request_id(request)
    # The access log line names the RFC error code of every refused request.
    request.scope.setdefault("state", {})["oauth_error"] = error.error
    log.info(
        "authorization request refused without redirect",
        extra={
            "request_id": request_id,
            "error": error.error,
            "reason": error.debug or error.description,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
        },
    )
    messages = messages or messages_of(request)
    key = error.key if isinstance(error, InteractionRefused) else _MESSAGE_KEYS.get(type(error))
    details = [(k, v) for k, v in (("client_id", client_id), ("redirect_uri", redirect_uri)) if v]
    return render(
        request,
        provider_of(request),
        "error.html",
        {
            "message": messages(key) if key else error.description,
            "details": details,
            "registered": registered,
            "hint": hint,
            "error_code": error.error,
            "request_id": request_id,
        },
        messages=messages,
        status=error.status if 400 <= error.status < 500 else 400,
    )


def leave(
    request: Request, outcome: Redirect, *, status: int, messages: Messages | None = None
) -> Response:
    """Send the browser back to a client; to a self-registered client's host only
    through a notice naming it, with a link to go on (RFC 9700 §4.11.2)."""
    if not outcome.third_party:
        return redirect(outcome, status=status)
    return render(
        request,
        provider_of(request),
        "leaving.html",
        {"location": outcome.location, "host": urlsplit(outcome.location).netloc},
        messages=messages,
    )


async def respond(request: Request, provider: Provider, outcome: AuthorizeOutcome) -> Response:
    """Show an authorization outcome: redirect, error page, or a page to interact."""
    if isinstance(outcome, Redirect):
        return leave(request, outcome, status=303 if request.method in ("POST", "PUT") else 302)
    if isinstance(outcome, ErrorPage):
        return error_page(
            request,
            outcome.error,
            outcome.client_id,
            outcome.redirect_uri,
            outcome.registered_redirect_uris,
            outcome.hint,
        )
    # Each interaction is a stored row: the address's allowance bounds how many it keeps.
    refused = await throttle.new_interaction(provider, request.scope)
    if refused is not None:
        return refused
    started = await provider.sign_in.start(outcome, read_cookie(request, provider, CSRF))
    response = RedirectResponse(started.location, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(response, provider, CSRF, started.csrf, None)
    return response
