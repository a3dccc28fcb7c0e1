"""Grid-Monitor: the confidential web client of the demo (an OpenID Connect relying party).

Server-side: tokens never reach the browser, which holds only an opaque, HttpOnly
session cookie. Signing in runs the authorization code flow with PKCE, ``state`` and
``nonce`` (demo/oidc.py); the readings page calls the sensors API with the access token
and refreshes it shortly before it expires, keeping the rotated refresh token. Signing
out revokes the tokens (RFC 7009) and ends the IdP session through its
``end_session_endpoint``. Run with ``python -m demo.grid_monitor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from demo import breaker_action
from demo.oidc import LoginError, PendingLogin, RefreshFailed, RelyingParty, TokenSet
from demo.settings import HOST, SCOPES, Credentials, DemoSettings

log = logging.getLogger("demo.grid_monitor")

HERE = Path(__file__).resolve().parent
COOKIE = "grid_monitor_session"
"""Not ``tollhouse_*``: cookies ignore ports, and the IdP shares the host 127.0.0.1."""
SESSION_TTL = 8 * 3600
PENDING_TTL = 600
"""A sign-in must come back from the IdP within ten minutes."""
MAX_SESSIONS = 10_000
REFRESH_MARGIN = 30.0
"""Refresh this many seconds before expiry (at most a fifth of the token's lifetime)."""
POLL_SECONDS = 2


class SignedOut(Exception):
    """The session has no usable tokens any more."""


class ApiUnavailable(Exception):
    """The sensors API did not answer with readings."""


@dataclass
class Session:
    sid: str
    created_at: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pending: PendingLogin | None = None
    tokens: TokenSet | None = None
    user: dict[str, Any] = field(default_factory=dict)
    refreshes: int = 0
    resume: str | None = None
    """The breaker whose opening waits for a step-up sign-in (demo/breaker_action.py)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises refreshes: two concurrent uses of one refresh token would be a replay,
    and the IdP would revoke the whole family (RFC 9700 §4.14.2)."""


class Sessions:
    """In memory, bounded, expiring: enough for a demo with one process."""

    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self.logged_out: OrderedDict[str, float] = OrderedDict()
        """``state`` values of logouts in progress, to greet the user when they return."""

    def new(self) -> Session:
        self._prune()
        session = Session(secrets.token_urlsafe(32), time.time())
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None or time.time() - session.created_at > SESSION_TTL:
            return None
        return session

    def drop(self, session: Session) -> None:
        self._by_id.pop(session.sid, None)

    def _prune(self) -> None:
        now = time.time()
        while self._by_id and (
            len(self._by_id) >= MAX_SESSIONS
            or now - next(iter(self._by_id.values())).created_at > SESSION_TTL
        ):
            self._by_id.popitem(last=False)
        while self.logged_out and (
            len(self.logged_out) >= 1000 or now - next(iter(self.logged_out.values())) > 600
        ):
            self.logged_out.popitem(last=False)


@dataclass
class Monitor:
    """Everything the routes share."""

    settings: DemoSettings
    rp: RelyingParty
    api: httpx.AsyncClient
    sessions: Sessions
    templates: Environment

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(poll_seconds=POLL_SECONDS, **context)
        return HTMLResponse(html, status_code=status)

    async def fresh_tokens(self, session: Session, *, force: bool = False) -> TokenSet:
        """The session's tokens, refreshed first if the access token is (nearly) expired."""
        async with session.lock:
            tokens = session.tokens
            if tokens is None:
                raise SignedOut
            margin = min(REFRESH_MARGIN, tokens.lifetime / 5)
            if force or time.time() >= tokens.expires_at - margin:
                try:
                    session.tokens = tokens = await self.rp.refresh(tokens)
                except (RefreshFailed, LoginError) as exc:
                    log.info("refresh failed, session ends: %s", exc)
                    session.tokens = None
                    raise SignedOut from exc
                session.refreshes += 1
            return tokens

    async def readings(self, session: Session) -> dict[str, Any]:
        """GET the sensors API; one refresh and retry if it refuses the token."""
        tokens = await self.fresh_tokens(session)
        for attempt in range(2):
            try:
                response = await self.api.get(
                    "/readings", headers={"Authorization": f"Bearer {tokens.access_token}"}
                )
            except httpx.HTTPError as exc:
                raise ApiUnavailable(f"the sensors API cannot be reached ({exc})") from exc
            if response.status_code == 401 and attempt == 0:
                tokens = await self.fresh_tokens(session, force=True)
                continue
            if response.status_code != 200:
                challenge = response.headers.get("www-authenticate", "")
                raise ApiUnavailable(f"the sensors API answered {response.status_code} {challenge}")
            data: dict[str, Any] = response.json()
            return data
        raise ApiUnavailable("the sensors API refused a fresh token")

    def token_status(self, session: Session) -> dict[str, Any]:
        tokens = session.tokens
        expires_in = 0 if tokens is None else max(0, round(tokens.expires_at - time.time()))
        return {"expires_in": expires_in, "refreshes": session.refreshes}


def monitor_of(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


def session_of(request: Request) -> Session | None:
    return monitor_of(request).sessions.get(request.cookies.get(COOKIE))


async def form_of(request: Request) -> dict[str, str]:
    """A small urlencoded form (Starlette's own parser needs python-multipart)."""
    body = await request.body()
    if len(body) > 4096:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def with_cookie(response: Response, session: Session | None) -> Response:
    if session is None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    else:
        # A browser-session cookie; no Secure flag because the demo runs on plain HTTP.
        response.set_cookie(COOKIE, session.sid, path="/", httponly=True, samesite="lax")
    return response


# -- pages -------------------------------------------------------------------------


async def home(request: Request) -> Response:
    monitor = monitor_of(request)
    session = session_of(request)
    if session is not None and session.tokens is not None:
        return RedirectResponse("/readings", status_code=303)
    notice = None
    state = request.query_params.get("state")
    if state and monitor.sessions.logged_out.pop(state, None) is not None:
        notice = "You have signed out of Grid-Monitor and of the identity provider."
    elif request.query_params.get("expired"):
        notice = "Your sign-in has ended. Sign in again to see the readings."
    return monitor.render("home.html", notice=notice, issuer=monitor.settings.issuer)


async def login(request: Request) -> Response:
    """Start the authorization code flow (OIDC Core §3.1.2.1)."""
    monitor = monitor_of(request)
    session = session_of(request) or monitor.sessions.new()
    try:
        url, session.pending = await monitor.rp.authorization_url()
    except (httpx.HTTPError, LoginError) as exc:
        log.warning("cannot start the sign-in: %s", exc)
        return monitor.render(
            "error.html", 502, message="The identity provider cannot be reached right now."
        )
    return with_cookie(RedirectResponse(url, status_code=303), session)


async def callback(request: Request) -> Response:
    """The redirect_uri: check the response, exchange the code, validate the ID Token."""
    monitor = monitor_of(request)
    session = session_of(request)
    pending = session.pending if session is not None else None
    if session is None or pending is None or time.time() - pending.created_at > PENDING_TTL:
        return monitor.render(
            "error.html",
            400,
            message="This sign-in was not started here, or took too long. Please start again.",
        )
    session.pending = None  # one use: a replayed callback finds nothing
    params = dict(request.query_params)
    try:
        tokens = await monitor.rp.finish_login(params, pending)
        user = dict(tokens.id_claims)
        with contextlib.suppress(httpx.HTTPError):
            user.update(await monitor.rp.userinfo(tokens))
    except LoginError as exc:
        return monitor.render("error.html", 400, message=str(exc))
    except (httpx.HTTPError, ValueError, KeyError) as exc:  # unreachable, or not JSON
        log.warning("sign-in failed: %s", exc)
        return monitor.render("error.html", 502, message="The identity provider failed.")
    # A new session id after sign-in, so an id planted before it is worth nothing.
    monitor.sessions.drop(session)
    signed_in = monitor.sessions.new()
    signed_in.tokens, signed_in.user = tokens, user
    signed_in.resume = session.resume
    target = f"/breakers/{session.resume}" if session.resume else "/readings"
    return with_cookie(RedirectResponse(target, status_code=303), signed_in)


async def readings_page(request: Request) -> Response:
    monitor = monitor_of(request)
    session = session_of(request)
    if session is None or session.tokens is None:
        return RedirectResponse("/", status_code=303)
    error = None
    data: dict[str, Any] = {"readings": []}
    try:
        data = await monitor.readings(session)
    except SignedOut:
        return with_cookie(RedirectResponse("/?expired=1", status_code=303), None)
    except ApiUnavailable as exc:
        error = str(exc)
    return monitor.render(
        "readings.html",
        user=session.user,
        data=data,
        error=error,
        token=monitor.token_status(session),
        csrf=session.csrf,
    )


async def readings_json(request: Request) -> Response:
    """What monitor.js polls: the readings and the state of the access token."""
    monitor = monitor_of(request)
    session = session_of(request)
    headers = {"Cache-Control": "no-store"}
    if session is None or session.tokens is None:
        return JSONResponse({"error": "signed_out"}, status_code=401, headers=headers)
    try:
        data = await monitor.readings(session)
    except SignedOut:
        return JSONResponse({"error": "signed_out"}, status_code=401, headers=headers)
    except ApiUnavailable as exc:
        return JSONResponse({"error": "api_unavailable", "detail": str(exc)}, 502, headers)
    return JSONResponse({**data, "token": monitor.token_status(session)}, headers=headers)


async def logout(request: Request) -> Response:
    """Revoke our tokens, forget the session, then end the IdP session (RP-Initiated
    Logout 1.0 §2: id_token_hint and a registered post_logout_redirect_uri)."""
    monitor = monitor_of(request)
    session = session_of(request)
    sent = (await form_of(request)).get("csrf_token")
    if session is None:
        return with_cookie(RedirectResponse("/", status_code=303), None)
    if sent is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return monitor.render("error.html", 400, message="The sign-out form has expired.")
    monitor.sessions.drop(session)
    tokens = session.tokens
    id_token = tokens.id_token if tokens else None
    if tokens is not None:
        if tokens.refresh_token:
            await monitor.rp.revoke(tokens.refresh_token, "refresh_token")
        await monitor.rp.revoke(tokens.access_token, "access_token")
    state = secrets.token_urlsafe(16)
    target = "/"
    with contextlib.suppress(httpx.HTTPError, LoginError):
        url = await monitor.rp.end_session_url(
            id_token, monitor.settings.post_logout_redirect_uri, state
        )
        if url is not None:
            monitor.sessions.logged_out[state] = time.time()
            target = url
    return with_cookie(RedirectResponse(target, status_code=303), None)


async def healthz(request: Request) -> Response:
    return Response("ok", media_type="text/plain")


# -- the application ---------------------------------------------------------------


def security_headers(issuer: str) -> Callable[..., Awaitable[Response]]:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    # form-action also covers the redirect of the sign-out form to the IdP.
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )

    async def add_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # The callback URL carries a code: never send it on as a Referer.
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add_headers


def create_app(settings: DemoSettings, credentials: Credentials) -> Starlette:
    rp = RelyingParty(
        settings.issuer,
        credentials.client_id,
        credentials.client_secret,
        settings.redirect_uri,
        SCOPES,
    )
    api = httpx.AsyncClient(base_url=settings.api_url, timeout=10)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    monitor = Monitor(settings, rp, api, Sessions(), templates)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await rp.close()
            await api.aclose()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/readings", readings_page),
            Route("/readings.json", readings_json),
            Route("/logout", logout, methods=["POST"]),
            *breaker_action.routes(),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=security_headers(settings.issuer))],
        lifespan=lifespan,
    )
    app.state.monitor = monitor
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="grid-monitor: %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    settings = DemoSettings.from_env()
    # The module's own classes, not __main__'s: demo/breaker_action.py catches SignedOut.
    from demo import grid_monitor

    app = grid_monitor.create_app(settings, Credentials.load(settings.data_dir))
    uvicorn.run(app, host=HOST, port=settings.client_port, log_level="warning")


if __name__ == "__main__":
    main()
