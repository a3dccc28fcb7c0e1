"""An API-gateway check: nginx ``auth_request``, Traefik ``forwardAuth``, Envoy ``ext_authz``.

``/check`` (any method; any path below it, as Envoy appends the original path) reads
the ``Authorization`` header of the original request and the scopes to require from
``?scope=a+b`` and/or the ``X-Required-Scopes`` header. It answers 200 with
``X-Auth-Subject``, ``X-Auth-Scopes`` and ``X-Auth-Client-Id``, or the RFC 6750 error
(401/403/400 with ``WWW-Authenticate``). ``/nginx/check`` is the same except that a
malformed header gets 401 rather than 400, because nginx's ``auth_request`` turns any
status but 2xx/401/403 into a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollhouse.errors import ConfigError
from tollhouse.resource.at_jwt import scope_tokens
from tollhouse.resource.errors import INVALID_REQUEST, TokenError, invalid_request
from tollhouse.resource.mtls import pem_thumbprint
from tollhouse.resource.validator import TokenValidator

log = logging.getLogger("tollhouse.resource.gateway")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NO_STORE = {"Cache-Control": "no-store"}


def _header_value(value: Any) -> str:
    """Claims are signed by the IdP but may hold any text: keep header values printable."""
    text = value if isinstance(value, str) else ""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe=" !#$&'()*+,/:;=?@[]~")


def original_request(request: Request, public_url: str | None) -> tuple[str, str]:
    """The method and URL of the request the proxy asks about, for DPoP proofs: nginx
    sends ``X-Original-Method`` and ``X-Original-URI`` (configured), Traefik
    ``X-Forwarded-Method``/``-Proto``/``-Host``/``-Uri``. The gateway listens to the
    proxy only, so these headers are the proxy's. ``public_url`` (the API's address
    as clients call it) wins over the forwarded scheme and host."""
    headers = request.headers
    method = headers.get("x-original-method") or headers.get("x-forwarded-method")
    uri = headers.get("x-original-uri") or headers.get("x-forwarded-uri") or "/"
    if public_url:
        base = public_url.rstrip("/")
    else:
        proto = headers.get("x-forwarded-proto", request.url.scheme)
        base = f"{proto}://{headers.get('x-forwarded-host') or headers.get('host', '')}"
    return (method or request.method).upper(), base + uri


async def _validate(
    validator: TokenValidator, request: Request, public_url: str | None, cert_header: str | None
) -> dict[str, Any]:
    wanted = request.query_params.get("scope", "") + " "
    wanted += " ".join(request.headers.getlist("x-required-scopes"))
    method, url = original_request(request, public_url)
    return await validator.validate_request_async(
        request.headers.getlist("authorization"),
        request.headers.getlist("dpop"),
        method=method,
        url=url,
        required_scopes=scope_tokens(wanted),
        certificate=_certificate(request, cert_header),
    )


def _certificate(request: Request, header: str | None) -> str | None:
    """RFC 8705: the client certificate the proxy forwards (nginx
    ``$ssl_client_escaped_cert``); the gateway listens to the proxy only."""
    values = request.headers.getlist(header) if header else []
    if len(values) > 1:
        raise invalid_request("More than one client certificate header.")
    if not values or not values[0]:
        return None
    try:
        return pem_thumbprint(values[0])
    except ValueError:
        raise invalid_request("The client certificate cannot be read.") from None


def _refusal(validator: TokenValidator, error: TokenError, nginx: bool) -> Response:
    error.realm = validator.realm
    status = error.status_code
    if nginx and error.error == INVALID_REQUEST:
        status = 401
    headers = {"WWW-Authenticate": error.www_authenticate, **NO_STORE}
    body = error.to_dict()
    if not body:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(
    validator: TokenValidator,
    *,
    on_startup: Callable[[], object] | None = None,
    public_url: str | None = None,
    client_cert_header: str | None = None,
) -> Starlette:
    """The gateway's ASGI app around one validator (its revocation check included)."""

    async def check(request: Request, *, nginx: bool = False) -> Response:
        try:
            claims = await _validate(validator, request, public_url, client_cert_header)
        except TokenError as error:
            return _refusal(validator, error, nginx)
        headers = {
            "X-Auth-Subject": _header_value(claims.get("sub")),
            "X-Auth-Scopes": _header_value(claims.get("scope", "")),
            "X-Auth-Client-Id": _header_value(claims.get("client_id")),
            **NO_STORE,
        }
        return Response(status_code=200, headers=headers)

    async def check_any(request: Request) -> Response:
        return await check(request)

    async def check_nginx(request: Request) -> Response:
        return await check(request, nginx=True)

    async def healthz(request: Request) -> Response:
        keys = validator.jwks.current()
        body = {"status": "ok" if keys is not None else "no_keys", "issuer": validator.issuer}
        return JSONResponse(body, status_code=200 if keys else 503, headers=NO_STORE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await asyncio.to_thread(validator.prefetch)
        except ConfigError as exc:
            log.warning("keys not loaded at start (retrying on demand): %s", exc)
        if on_startup is not None:
            await asyncio.to_thread(on_startup)
        yield
        validator.close()

    routes = [
        Route("/check", check_any, methods=METHODS),
        Route("/check/{rest:path}", check_any, methods=METHODS),
        Route("/nginx/check", check_nginx, methods=METHODS),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.token_validator = validator
    return app
