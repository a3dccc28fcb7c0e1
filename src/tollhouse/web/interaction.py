"""Login and consent pages: the user-facing half of the authorization endpoint.

A pending authorization request is kept server-side as an *interaction* whose id
travels in the hidden ``interaction`` input. A per-browser CSRF token travels in a
cookie and in the hidden ``csrf_token`` input; the interaction stores its hash, so a
form is only accepted from the browser that started the request.
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
from tollhouse.protocol.claims import SCOPE_DESCRIPTIONS
from tollhouse.protocol.endpoints.authorize import (
    AuthorizeOutcome,
    ErrorPage,
    NeedsConsent,
    NeedsLogin,
    SignedIn,
)
from tollhouse.protocol.events import ConsentDecided, LoginFailed, LoginSucceeded
from tollhouse.protocol.requests import AuthorizationRequest
from tollhouse.protocol.results import Redirect
from tollhouse.provider import Provider
from tollhouse.randomness import equal, fingerprint, identifier, token
from tollhouse.web.parsing import form_parameters, query_parameters
from tollhouse.web.rendering import html, redirect

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
    response.set_cookie(
        cookie_name(provider, base),
        value,
        max_age=max_age,
        path="/",
        secure=_secure(provider),
        httponly=True,
        samesite="lax",
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


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


def error_page(
    request: Request,
    error: OAuthError,
    client_id: str | None,
    redirect_uri: str | None,
    registered: tuple[str, ...] | None = None,
    hint: str | None = None,
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
    details = [(k, v) for k, v in (("client_id", client_id), ("redirect_uri", redirect_uri)) if v]
    return html(
        "error.html",
        {
            "title": "This sign-in link cannot be used",
            "message": error.description,
            "details": details,
            "registered": registered,
            "hint": hint,
            "error_code": error.error,
            "request_id": request_id,
        },
        status=error.status if 400 <= error.status < 500 else 400,
    )


async def respond(request: Request, provider: Provider, outcome: AuthorizeOutcome) -> Response:
    """Render an authorization outcome: redirect, error page, or a page to interact."""
    if isinstance(outcome, Redirect):
        return redirect(outcome, status=303 if request.method == "POST" else 302)
    if isinstance(outcome, ErrorPage):
        return error_page(
            request,
            outcome.error,
            outcome.client_id,
            outcome.redirect_uri,
            outcome.registered_redirect_uris,
            outcome.hint,
        )
    page = "/login" if isinstance(outcome, NeedsLogin) else "/consent"
    return await _start_interaction(request, provider, outcome.request, page)


async def _start_interaction(
    request: Request, provider: Provider, auth_request: AuthorizationRequest, page: str
) -> Response:
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
            client_id=auth_request.client_id,
            request=auth_request.to_dict(),
            created_at=now,
            expires_at=now + provider.settings.interaction_ttl,
        )
    )
    response = RedirectResponse(f"{page}?interaction={interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(response, provider, "tollhouse_csrf", csrf, None)
    return response


class _Pending:
    """An interaction loaded from the store, with its client and request."""

    def __init__(self, interaction_id: str, record: Interaction, client: Client) -> None:
        self.interaction_id = interaction_id
        self.record = record
        self.client = client
        self.request = AuthorizationRequest.from_dict(record.request)


async def _load_pending(
    request: Request, provider: Provider, interaction_id: str | None
) -> _Pending:
    if not interaction_id or len(interaction_id) > 128:
        raise InvalidRequest("This page needs a pending sign-in request; start again from the app.")
    record = await provider.storage.get_interaction(fingerprint(interaction_id))
    if record is None or record.expires_at <= provider.clock.now():
        raise InvalidRequest(
            "This sign-in request has expired or was already completed; start again from the app."
        )
    client = await provider.storage.get_client(record.client_id)
    if client is None:
        raise InvalidRequest("The application of this sign-in request no longer exists.")
    return _Pending(interaction_id, record, client)


def _check_csrf(request: Request, provider: Provider, pending: _Pending, sent: str | None) -> None:
    cookie = request.cookies.get(cookie_name(provider, "tollhouse_csrf"))
    if (
        not sent
        or not cookie
        or not equal(sent, cookie)
        or not equal(fingerprint(sent), pending.record.csrf_hash)
    ):
        raise InvalidRequest(
            "The form expired or was not sent from this browser; start again from the app."
        )


def _form_targets(pending: _Pending) -> list[str]:
    parts = urlsplit(pending.request.redirect_uri)
    return [f"{parts.scheme}://{parts.netloc}"]


def _login_page(
    request: Request,
    provider: Provider,
    pending: _Pending,
    *,
    error: str | None = None,
    username: str | None = None,
    status: int = 200,
) -> Response:
    return html(
        "login.html",
        {
            "client_name": pending.client.name,
            "csrf_token": request.cookies.get(cookie_name(provider, "tollhouse_csrf"), ""),
            "interaction": pending.interaction_id,
            "error": error,
            "username": username or pending.request.login_hint,
        },
        status=status,
        form_targets=_form_targets(pending),
    )


async def login_get(request: Request) -> Response:
    provider = _provider(request)
    try:
        pending = await _load_pending(
            request, provider, query_parameters(request).get("interaction")
        )
    except OAuthError as error:
        return error_page(request, error, None, None)
    return _login_page(request, provider, pending)


async def login_post(request: Request) -> Response:
    provider = _provider(request)
    try:
        form = await form_parameters(request)
        pending = await _load_pending(request, provider, form.get("interaction"))
        _check_csrf(request, provider, pending, form.get("csrf_token"))
    except OAuthError as error:
        return error_page(request, error, None, None)
    username = form.get("username", "")
    user = await provider.login.authenticate(username, form.get("password", ""))
    if user is None:
        provider.events.emit(LoginFailed(pending.client.client_id))
        return _login_page(
            request,
            provider,
            pending,
            error="Incorrect username or password.",
            username=username,
            status=400,
        )

    now = provider.clock.now()
    previous = await session_of(request, provider)
    sid = identifier(16)
    participants: list[str] = []
    if previous is not None and previous.user_id == user.user_id and previous.sid:
        # Re-authentication keeps the SSO session (same sid) under a new cookie.
        sid = previous.sid
        participants = await provider.storage.session_clients(sid)
        await provider.storage.delete_session(previous.session_hash)
    elif previous is not None:
        await deliver(await provider.sessions.end(previous, "other_user_signed_in"))
    session_id = token(32)
    session = Session(
        fingerprint(session_id),
        user.user_id,
        now,
        now,
        now + provider.settings.session_ttl,
        sid=sid,
        last_active_at=now,
    )
    await provider.storage.add_session(session)
    for client_id in participants:
        await provider.storage.add_session_client(sid, client_id)
    provider.events.emit(LoginSucceeded(user.user_id, pending.client.client_id))
    signed_in = SignedIn(user.user_id, now, session.session_hash, sid)
    outcome = await provider.authorize.resume(
        pending.request, pending.client, signed_in, just_signed_in=True
    )
    if isinstance(outcome, NeedsConsent):
        response: Response = RedirectResponse(
            f"/consent?interaction={pending.interaction_id}", status_code=303
        )
        response.headers["Cache-Control"] = "no-store"
    else:
        await provider.storage.delete_interaction(pending.record.interaction_hash)
        response = await respond(request, provider, outcome)
    set_cookie(response, provider, "tollhouse_session", session_id, provider.settings.session_ttl)
    return response


async def _consent_page(
    request: Request, provider: Provider, pending: _Pending, signed_in: SignedIn
) -> Response:
    user = await provider.storage.get_user(signed_in.user_id)
    audience = pending.request.audience if pending.request.audience != provider.issuer else None
    return html(
        "consent.html",
        {
            "client_name": pending.client.name,
            "username": user.username if user else signed_in.user_id,
            "scopes": [
                {"name": s, "text": SCOPE_DESCRIPTIONS.get(s)} for s in pending.request.scopes
            ],
            "audience": audience,
            "redirect_host": urlsplit(pending.request.redirect_uri).netloc,
            "csrf_token": request.cookies.get(cookie_name(provider, "tollhouse_csrf"), ""),
            "interaction": pending.interaction_id,
        },
        form_targets=_form_targets(pending),
    )


async def consent_get(request: Request) -> Response:
    provider = _provider(request)
    try:
        pending = await _load_pending(
            request, provider, query_parameters(request).get("interaction")
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
        pending = await _load_pending(request, provider, form.get("interaction"))
        _check_csrf(request, provider, pending, form.get("csrf_token"))
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise InvalidRequest("The decision must be allow or deny.")
    except OAuthError as error:
        return error_page(request, error, None, None)
    signed_in = await current_user(request, provider)
    if signed_in is None:
        return RedirectResponse(f"/login?interaction={pending.interaction_id}", status_code=303)
    await provider.storage.delete_interaction(pending.record.interaction_hash)
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
