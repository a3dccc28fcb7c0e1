"""The pages' two cookies: the session (``tollhouse_session``) and the per-browser CSRF
token (``tollhouse_csrf``). Both are ``HttpOnly`` and ``SameSite=Lax``; over https they
are ``Secure`` with the ``__Host-`` prefix, which subdomains and plain HTTP cannot set.

What the cookies mean is decided in protocol/sessions.py and protocol/interactions.py;
here they are only read and written.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tollhouse.protocol.sessions import SessionCookie
from tollhouse.provider import Provider

SESSION = "tollhouse_session"
CSRF = "tollhouse_csrf"


def cookie_name(provider: Provider, base: str) -> str:
    """``__Host-`` cookies cannot be set by subdomains or over plain HTTP."""
    return f"__Host-{base}" if provider.pages.secure_cookies else base


def read_cookie(request: Request, provider: Provider, base: str) -> str | None:
    return request.cookies.get(cookie_name(provider, base))


def set_cookie(
    response: Response, provider: Provider, base: str, value: str, max_age: int | None
) -> None:
    """``max_age=None``: a browser-session cookie, gone when the browser closes."""
    response.set_cookie(
        cookie_name(provider, base),
        value,
        max_age=max_age,
        path="/",
        secure=provider.pages.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, provider: Provider, base: str) -> None:
    """With the attributes it was set with: a ``__Host-`` cookie is only replaced by a
    ``Secure`` one."""
    response.delete_cookie(
        cookie_name(provider, base),
        path="/",
        secure=provider.pages.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def set_session_cookie(response: Response, provider: Provider, cookie: SessionCookie) -> None:
    set_cookie(response, provider, SESSION, cookie.value, cookie.max_age)
