"""``BearerAuthMiddleware``: pure ASGI, refuses requests without a valid access token."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from typing import Any

from tollhouse.resource.bearer import bearer_token, header_values
from tollhouse.resource.errors import TokenError
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
    """

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        *,
        required_scopes: Iterable[str] = (),
        exclude_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.validator = validator
        self.required_scopes = tuple(required_scopes)
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_token(header_values(scope["headers"], b"authorization"))
            claims = await self.validator.validate_async(token, self.required_scopes)
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
