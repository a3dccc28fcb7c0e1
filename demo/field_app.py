"""The field technician's single-page app: static files on their own origin.

Everything OpenID Connect happens in the browser (demo/field/field.js): discovery, PKCE,
the code exchange at ``/token`` and the ``/userinfo`` call, cross-origin with ``fetch``.
This server only hands out the files and ``/config.json`` (the issuer, the client id,
the redirect URI); it never sees a token. The client is public (no secret), registered
by demo/run.py with this origin's ``/callback`` as its redirect URI, which is also what
lets this origin read the IdP's answers (CORS, docs/registration.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from demo.settings import FIELD_CLIENT_ID, FIELD_SCOPES, HOST, DemoSettings

HERE = Path(__file__).resolve().parent
FILES = HERE / "field"


def security_headers(issuer: str) -> Callable[..., Awaitable[Response]]:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    # connect-src: the page's fetch calls go to this origin and to the IdP only.
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {origin}; form-action 'none'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )

    async def add_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        # The callback URL carries a code: never send it on as a Referer.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add_headers


def create_app(settings: DemoSettings) -> Starlette:
    config = {
        "issuer": settings.issuer,
        "client_id": FIELD_CLIENT_ID,
        "redirect_uri": settings.field_redirect_uri,
        "scope": FIELD_SCOPES,
    }

    async def page(request: Request) -> Response:
        return FileResponse(FILES / "index.html")

    async def script(request: Request) -> Response:
        return FileResponse(FILES / "field.js", media_type="text/javascript")

    async def config_json(request: Request) -> Response:
        return JSONResponse(config)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/callback", page),
            Route("/field.js", script),
            Route("/config.json", config_json),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=security_headers(settings.issuer))],
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="field-app: %(levelname)s %(message)s")
    settings = DemoSettings.from_env()
    uvicorn.run(create_app(settings), host=HOST, port=settings.field_port, log_level="warning")


if __name__ == "__main__":
    main()
