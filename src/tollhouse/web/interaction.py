"""Login and consent pages: the user-facing half of the authorization endpoint.

A pending authorization request is kept server-side as an *interaction* whose id
travels in the hidden ``interaction`` input (or, with ``TOLLHOUSE_LOGIN_URL`` /
``TOLLHOUSE_CONSENT_URL``, in the query to the operator's own pages: see
protocol/endpoints/interaction.py). A per-browser CSRF token travels in a cookie and
in the hidden ``csrf_token`` input; the interaction stores its hash, so a form is
only accepted from the browser that started the request.

Pages speak the language of ``ui_locales`` or ``Accept-Language`` (web/messages.py)
and carry the operator's name and logo (web/branding.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tollhouse.backchannel import deliver
from tollhouse.errors import InvalidRequest, OAuthError
from tollhouse.models import Client, Interaction, Session
from tollhouse.protocol.endpoints.authorize import (
    AuthorizeOutcome,
    ErrorPage,
    NeedsLogin,
    SignedIn,
)
from tollhouse.protocol.endpoints.interaction import (
    AnswerExpired,
    PendingState,
    Stage,
    WrongBrowser,
)
from tollhouse.protocol.events import ConsentDecided, LoginFailed, LoginSucceeded
from tollhouse.protocol.results import Redirect, add_query
from tollhouse.provider import Provider
from tollhouse.randomness import equal, fingerprint, identifier, token
from tollhouse.web import throttle
from tollhouse.web.branding import branding_of
from tollhouse.web.messages import EN, Messages, messages_for
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.rendering import page, redirect

log = logging.getLogger("tollhouse.interaction")


def _provider(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


def _secure(provider: Provider) -> bool:
    """Secure cookies whenever the public origin (the issuer) is https: served with TLS
    here, or behind a TLS-terminating proxy with ``--insecure-http`` on loopback."""
    return provider.issuer.startswith("https://")


def cookie_name(provider: Provider, base: str) -> str:
    """``__Host-`` cookies cannot be set by subdomains or over plain HTTP."""
    return f"__Host-{base}" if _secure(provider) else base


def set_cookie(
    response: Response, provider: Provider, base: str, value: str, max_age: int | None
) -> None:
    """``max_age=None``: a browser-session cookie, gone when the browser closes."""
    response.set_cookie(
        cookie_name(provider, base),
        value,
        max_age=max_age,
        path="/",
        secure=_secure(provider),
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, provider: Provider, base: str) -> None:
    """With the attributes it was set with: a ``__Host-`` cookie is only replaced by a
    ``Secure`` one."""
    response.delete_cookie(
        cookie_name(provider, base),
        path="/",
        secure=_secure(provider),
        httponly=True,
        samesite="lax",
    )


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
) -> Response:
    return page(
        template,
        context,
        messages=messages or messages_of(request),
        branding=branding_of(provider.settings),
        status=status,
        form_targets=form_targets,
    )


async def current_user(request: Request, provider: Provider) -> SignedIn | None:
    session = await session_of(request, provider)
    if session is None:
        return None
    return SignedIn(session.user_id, session.auth_time, session.session_hash, session.sid or None)


TOUCH_EVERY = 60
"""Seconds between two writes of a session's last activity."""


async def session_of(request: Request, provider: Provider) -> Session | None:
    """The live session behind the browser's cookie (absolute and idle timeouts)."""
    raw = request.cookies.get(cookie_name(provider, "tollhouse_session"))
    if not raw or len(raw) > 128:
        return None
    session = await provider.storage.get_session(fingerprint(raw))
    now = provider.clock.now()
    if session is None or session.expires_at <= now:
        return None
    last = session.last_active_at or session.created_at
    if now - last > provider.settings.session_idle_ttl:
        return None
    if now - last >= TOUCH_EVERY:
        await provider.storage.touch_session(session.session_hash, now)
    return session


class PageRefused(InvalidRequest):
    """A refusal of the pages themselves, shown in the page's language."""

    def __init__(self, key: str) -> None:
        super().__init__(EN[key])
        self.key = key


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
    key = error.key if isinstance(error, PageRefused) else _MESSAGE_KEYS.get(type(error))
    details = [(k, v) for k, v in (("client_id", client_id), ("redirect_uri", redirect_uri)) if v]
    provider = _provider(request)
    return render(
        request,
        provider,
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


async def respond(request: Request, provider: Provider, outcome: AuthorizeOutcome) -> Response:
    """Render an authorization outcome: redirect, error page, or a page to interact."""
    if isinstance(outcome, Redirect):
        return redirect(outcome, status=303 if request.method in ("POST", "PUT") else 302)
    if isinstance(outcome, ErrorPage):
        return error_page(
            request,
            outcome.error,
            outcome.client_id,
            outcome.redirect_uri,
            outcome.registered_redirect_uris,
            outcome.hint,
        )
    if isinstance(outcome, NeedsLogin):
        return await _start_interaction(request, provider, PendingState(outcome.request, "login"))
    state = PendingState(outcome.request, "consent", outcome.signed_in.user_id)
    return await _start_interaction(request, provider, state)


def _page_url(provider: Provider, stage: Stage, interaction_id: str) -> str:
    """The operator's own page when configured (interaction API), else ours."""
    external = provider.settings.login_url if stage == "login" else provider.settings.consent_url
    if external:
        return add_query(external, {"interaction": interaction_id})
    return f"/{stage}?interaction={interaction_id}"


async def _start_interaction(request: Request, provider: Provider, state: PendingState) -> Response:
    csrf_cookie = cookie_name(provider, "tollhouse_csrf")
    csrf = request.cookies.get(csrf_cookie)
    if not csrf or len(csrf) > 128:
        csrf = token(32)
    interaction_id = token(32)
    now = provider.clock.now()
    await provider.storage.add_interaction(
        Interaction(
            interaction_hash=fingerprint(interaction_id),
            csrf_hash=fingerprint(csrf),
            client_id=state.request.client_id,
            request=state.to_dict(),
            created_at=now,
            expires_at=now + provider.settings.interaction_ttl,
        )
    )
    location = _page_url(provider, state.stage, interaction_id)
    response = RedirectResponse(location, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(response, provider, "tollhouse_csrf", csrf, None)
    return response


class _Pending:
    """An interaction loaded from the store, with its client and request."""

    def __init__(self, interaction_id: str, record: Interaction, client: Client) -> None:
        self.interaction_id = interaction_id
        self.record = record
        self.client = client
        self.state = PendingState.from_dict(record.request)
        self.request = self.state.request


async def _load_pending(provider: Provider, interaction_id: str | None, stage: Stage) -> _Pending:
    external = provider.settings.login_url if stage == "login" else provider.settings.consent_url
    if external:
        # The operator replaced this page: it must not be a way around theirs.
        raise PageRefused("error.no_interaction")
    if not interaction_id or len(interaction_id) > 128:
        raise PageRefused("error.no_interaction")
    record = await provider.storage.get_interaction(fingerprint(interaction_id))
    if record is None or record.expires_at <= provider.clock.now():
        raise PageRefused("error.interaction_expired")
    if PendingState.from_dict(record.request).decision is not None:
        raise PageRefused("error.interaction_expired")  # answered through the API
    client = await provider.storage.get_client(record.client_id)
    if client is None:
        raise PageRefused("error.client_gone")
    return _Pending(interaction_id, record, client)


def _check_csrf(request: Request, provider: Provider, pending: _Pending, sent: str | None) -> None:
    cookie = request.cookies.get(cookie_name(provider, "tollhouse_csrf"))
    if (
        not sent
        or not cookie
        or not equal(sent, cookie)
        or not equal(fingerprint(sent), pending.record.csrf_hash)
    ):
        raise PageRefused("error.form_expired")


async def _take(provider: Provider, pending: _Pending) -> None:
    """Complete the interaction once: of two submissions of one form, one wins."""
    now = provider.clock.now()
    if await provider.storage.take_interaction(pending.record.interaction_hash, now) is None:
        raise PageRefused("error.interaction_expired")


def _form_targets(pending: _Pending) -> tuple[str, ...]:
    parts = urlsplit(pending.request.redirect_uri)
    return (f"{parts.scheme}://{parts.netloc}",)


async def _login_page(
    request: Request,
    provider: Provider,
    pending: _Pending,
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
            "csrf_token": request.cookies.get(cookie_name(provider, "tollhouse_csrf"), ""),
            "interaction": pending.interaction_id,
            "error": error,
            "notice": messages("login.reauthenticate") if signed_in and not error else None,
            "username": username or pending.request.login_hint,
        },
        messages=messages,
        status=status,
        form_targets=_form_targets(pending),
    )


async def login_get(request: Request) -> Response:
    provider = _provider(request)
    try:
        pending = await _load_pending(
            provider, query_parameters(request).get("interaction"), "login"
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    return await _login_page(request, provider, pending)


async def login_post(request: Request) -> Response:
    provider = _provider(request)
    try:
        form = await form_parameters(request)
        pending = await _load_pending(provider, form.get("interaction"), "login")
        _check_csrf(request, provider, pending, form.get("csrf_token"))
    except OAuthError as error:
        return error_page(request, error, None, None)
    messages = messages_of(request, pending.request.ui_locales)
    username = form.get("username", "")
    # Brute-force protection before the password is checked (web/throttle.py).
    lockout = await throttle.login_attempt(request, provider, username)
    if lockout is not None:
        text = messages("login.locked", wait=messages.wait(lockout.retry_after))
        page = await _login_page(
            request, provider, pending, error=text, username=username, status=429
        )
        page.headers["Retry-After"] = str(lockout.retry_after)
        return page
    user = await provider.login.authenticate(username, form.get("password", ""))
    if user is None:
        provider.events.emit(LoginFailed(pending.client.client_id))
        return await _login_page(
            request,
            provider,
            pending,
            error=messages("login.failed"),
            username=username,
            status=400,
        )

    await throttle.login_succeeded(request, provider, username)
    try:
        await _take(provider, pending)
    except OAuthError as error:
        return error_page(request, error, None, None, messages=messages)
    session_id, signed_in = await establish_session(request, provider, user.user_id, ("pwd",))
    provider.events.emit(LoginSucceeded(user.user_id, pending.client.client_id))
    outcome = await provider.authorize.resume(
        pending.request, pending.client, signed_in, just_signed_in=True
    )
    response = await respond(request, provider, outcome)
    set_session_cookie(response, provider, session_id, remember=True)
    return response


async def establish_session(
    request: Request, provider: Provider, user_id: str, amr: tuple[str, ...]
) -> tuple[str, SignedIn]:
    """A new session cookie for ``user_id`` (the cookie value, and who is signed in).

    Re-authentication of the same user keeps the SSO session (same ``sid``, same
    participating clients) under a new cookie; another user ends the previous session
    (with back-channel logout)."""
    now = provider.clock.now()
    previous = await session_of(request, provider)
    sid = identifier(16)
    participants: list[str] = []
    if previous is not None and previous.user_id == user_id and previous.sid:
        sid = previous.sid
        participants = await provider.storage.session_clients(sid)
        await provider.storage.delete_session(previous.session_hash)
    elif previous is not None:
        await deliver(await provider.sessions.end(previous, "other_user_signed_in"))
    session_id = token(32)
    session = Session(
        fingerprint(session_id),
        user_id,
        now,
        now,
        now + provider.settings.session_ttl,
        sid=sid,
        last_active_at=now,
        amr=amr,
    )
    await provider.storage.add_session(session)
    for client_id in participants:
        await provider.storage.add_session_client(sid, client_id)
    return session_id, SignedIn(user_id, now, session.session_hash, sid)


def set_session_cookie(
    response: Response, provider: Provider, session_id: str, *, remember: bool
) -> None:
    """``remember=False``: the cookie ends with the browser (the session record still
    expires on its own timeouts)."""
    max_age = provider.settings.session_ttl if remember else None
    set_cookie(response, provider, "tollhouse_session", session_id, max_age)


async def _consent_page(
    request: Request, provider: Provider, pending: _Pending, signed_in: SignedIn
) -> Response:
    messages = messages_of(request, pending.request.ui_locales)
    user = await provider.storage.get_user(signed_in.user_id)
    audience = pending.request.audience if pending.request.audience != provider.issuer else None
    api = await provider.storage.get_api(audience) if audience else None
    api_name = (api.name or api.identifier) if api else audience
    return render(
        request,
        provider,
        "consent.html",
        {
            "client_name": pending.client.name,
            "username": user.username if user else signed_in.user_id,
            "scopes": [
                {"name": s, "text": messages.scope(s, api_name)} for s in pending.request.scopes
            ],
            "audience": api_name,
            "redirect_host": urlsplit(pending.request.redirect_uri).netloc,
            "csrf_token": request.cookies.get(cookie_name(provider, "tollhouse_csrf"), ""),
            "interaction": pending.interaction_id,
        },
        messages=messages,
        form_targets=_form_targets(pending),
    )


async def consent_get(request: Request) -> Response:
    provider = _provider(request)
    try:
        pending = await _load_pending(
            provider, query_parameters(request).get("interaction"), "consent"
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return RedirectResponse(f"/login?interaction={pending.interaction_id}", status_code=303)
    return await _consent_page(request, provider, pending, signed_in)


async def consent_post(request: Request) -> Response:
    provider = _provider(request)
    try:
        form = await form_parameters(request)
        pending = await _load_pending(provider, form.get("interaction"), "consent")
        _check_csrf(request, provider, pending, form.get("csrf_token"))
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise InvalidRequest("The decision must be allow or deny.")
    except OAuthError as error:
        return error_page(request, error, None, None)
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return RedirectResponse(f"/login?interaction={pending.interaction_id}", status_code=303)
    try:
        await _take(provider, pending)
    except OAuthError as error:
        return error_page(request, error, None, None)
    provider.events.emit(
        ConsentDecided(
            pending.client.client_id,
            signed_in.user_id,
            allowed=decision == "allow",
            scopes=pending.request.scopes,
        )
    )
    outcome = await provider.authorize.consent(
        pending.request, signed_in, allowed=decision == "allow"
    )
    return redirect(outcome, status=303)


def routes() -> list[Route]:
    return [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/consent", consent_get, methods=["GET"]),
        Route("/consent", consent_post, methods=["POST"]),
    ]
