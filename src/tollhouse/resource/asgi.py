"""``BearerAuthMiddleware``: pure ASGI, refuses requests without a valid access token."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from typing import Any

from tollhouse.resource.bearer import header_values
from tollhouse.resource.errors import TokenError, invalid_request
from tollhouse.resource.mtls import pem_thumbprint, tls_extension_certificate
from tollhouse.resource.validator import TokenValidator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WEBSOCKET_POLICY_VIOLATION = 1008


class BearerAuthMiddleware:
    """Validate the bearer token of every HTTP and WebSocket request before ``app``.

    On success the claims are in ``scope["state"]["token_claims"]`` (Starlette:
    ``request.state.token_claims``). On failure the middleware answers itself: 401
    ``invalid_token`` (or a bare challenge when no token was sent), 403
    ``insufficient_scope``, 400 ``invalid_request``, each with the RFC 6750
    ``WWW-Authenticate`` header; a WebSocket handshake is closed with code 1008.
    Paths in ``exclude_paths`` (exact match, e.g. ``/healthz``) pass without a token.

    DPoP-bound tokens (RFC 9449) need ``Authorization: DPoP`` and a proof for this
    request; the URL a proof names is ``public_url`` (the API's address as clients see
    it, behind a proxy) and the request's path, or else the request's scheme and
    ``Host``.
    """

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        *,
        required_scopes: Iterable[str] = (),
        exclude_paths: Collection[str] = (),
        public_url: str | None = None,
    ) -> None:
        self.app = app
        self.public_url = public_url.rstrip("/") if public_url else None
        self.validator = validator
        self.required_scopes = tuple(required_scopes)
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        try:
            headers = scope["headers"]
            claims = await self.validator.validate_request_async(
                header_values(headers, b"authorization"),
                header_values(headers, b"dpop"),
                method=scope.get("method", "GET"),
                url=request_url(scope, self.public_url),
                required_scopes=self.required_scopes,
                certificate=scope_certificate(scope),
            )
        except TokenError as error:
            error.realm = self.validator.realm
            if kind == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
            else:
                await send_error(send, error)
            return
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["token_claims"] = claims
        await self.app(scope, receive, send)


async def send_error(send: Send, error: TokenError) -> None:
    """An RFC 6750 §3 error response: status, ``WWW-Authenticate``, JSON body."""
    body = json.dumps(error.to_dict()).encode() if not error.missing else b""
    headers = [
        (b"www-authenticate", error.www_authenticate.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode()),
    ]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def request_url(scope: Scope, public_url: str | None) -> str:
    """The URL a DPoP proof must name (RFC 9449 §4.3 step 9; query left out)."""
    path = str(scope.get("root_path", "")) + str(scope.get("path", "/"))
    if public_url:
        return public_url + path
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme"))
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    return f"{scheme}://{host}{path}"


def scope_certificate(scope: Scope) -> str | None:
    """The ``x5t#S256`` of the client certificate in the ASGI TLS extension (RFC 8705)."""
    pem = tls_extension_certificate(scope)
    if pem is None:
        return None
    try:
        return pem_thumbprint(pem)
    except ValueError:
        raise invalid_request("The client certificate cannot be read.") from None
