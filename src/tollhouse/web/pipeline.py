"""The one request pipeline (ARCHITECTURE.md convention 12, docs/adr/0009).

Every HTTP request passes the same steps in the same order, whoever answers it:

1. client address — the TCP peer, or the forwarded client of a trusted proxy
   (:class:`~tollhouse.web.proxy.TrustedProxies`);
2. request id, audit binding and clock (:meth:`RequestContext.open`); the response
   headers every answer carries are :meth:`Pipeline.headers`;
3. CORS (web/cors.py, rules in protocol/cors.py) — a preflight to an endpoint of the
   table is answered here; the actual answer gets its headers in :meth:`Pipeline.headers`;
4. rate limit per client address on the paths that have one
   (:func:`~tollhouse.web.throttle.per_address`): a JSON 429, or for the paths browsers
   navigate to a 429 page, answered like a Starlette response;
5. the endpoint: a hot JSON endpoint answered from the scope (web/fast_lane.py), or
   Starlette for everything else (pages, other methods on the hot paths: 405, HEAD);
6. metrics and access log (:meth:`RequestContext.close`), in ``finally``;
7. error rendering (:meth:`RequestContext.fail`): a generic ``server_error`` naming the
   request id, or 503 with ``Retry-After`` for :class:`TemporarilyUnavailable`.

Each step is defined once, in its module; this class only orders them. The hot
endpoints skip Starlette's router and its request and response objects, never a step:
their result is rendered straight into the two ASGI messages with the same headers.
The steps are calls in one coroutine, not ASGI layers: a layer per step would cost a
coroutine and a ``send`` wrapper per request on the hot path.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tollhouse.protocol.cors import CorsPolicy
from tollhouse.protocol.results import JsonResult
from tollhouse.provider import Provider
from tollhouse.web import cors, peer_certificates
from tollhouse.web.fast_lane import HOT_ROUTES, HotRoute
from tollhouse.web.observe import route_template
from tollhouse.web.proxy import TrustedProxies
from tollhouse.web.rendering import json_messages
from tollhouse.web.request_context import Exchange, RequestContext, note_challenge_error
from tollhouse.web.throttle import endpoint_of, per_address


class Pipeline:
    """The outermost ASGI app: the steps (module docstring) around every HTTP request;
    lifespan goes straight to Starlette, which builds the provider."""

    def __init__(self, app: Starlette, addresses: TrustedProxies, context: RequestContext) -> None:
        self.app = app
        self.addresses = addresses
        self.context = context
        self.routes = tuple(app.routes)
        self.hot: dict[tuple[str, str], HotRoute] = dict(HOT_ROUTES)
        # Starlette's router behind its HTTP-exception handling (404, 405), without its
        # ServerErrorMiddleware: an error reaches step 7 like any other.
        self.framework: ASGIApp = ExceptionMiddleware(app.router)

    @property
    def provider(self) -> Provider:
        provider: Provider = self.app.state.provider
        return provider

    def cors_policy(self) -> CorsPolicy:
        return self.provider.cors

    def headers(self, scope: Scope, exchange: Exchange) -> list[tuple[bytes, bytes]]:
        """The headers every response carries (step 2), and CORS's (step 3)."""
        headers = self.context.headers(scope, exchange)
        if "cors" in scope["state"]:
            headers += cors.response_headers(self.cors_policy, scope)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Before resolve(): the certificate is looked up by the TCP peer's address.
        peer_certificates.add_tls_extension(scope)
        self.addresses.resolve(scope)
        context = self.context
        exchange = context.open(scope)
        hot = self.hot.get((scope["method"], scope["path"]))
        try:
            cross = cors.note(scope)
            if (
                cross is not None
                and cross.origin is not None
                and await self._cross_origin(scope, send, exchange, cross)
            ):
                return
            result: JsonResult | Response | None = None
            limited = endpoint_of(scope["path"])
            if limited is not None or hot is not None:
                provider = self.provider
                if limited is not None:
                    result = await per_address(provider, scope, limited)
                if result is None and hot is not None:
                    result = await hot.handler(provider, scope, receive)
            if result is None:
                await self._framework(scope, receive, send, exchange, self.framework)
            elif isinstance(result, Response):  # a refused page (web/throttle.py)
                await self._framework(scope, receive, send, exchange, result)
            else:
                start, body = json_messages(scope, result, self.headers(scope, exchange))
                exchange.status = result.status
                exchange.responded = True
                await send(start)
                await send(body)
        except Exception as error:
            await context.fail(scope, exchange, error, send, self.headers)
        finally:
            template = hot.path if hot is not None else route_template(scope, self.routes)
            context.close(scope, exchange, template)

    async def _cross_origin(
        self, scope: Scope, send: Send, exchange: Exchange, cross: cors.CrossOrigin
    ) -> bool:
        """Step 3 for a request that names its ``Origin``: the origin index brought up to
        date, and a preflight answered (``204``, no body; True)."""
        policy = self.cors_policy()
        await policy.refresh()
        answer = cors.preflight(policy, scope, cross)
        if answer is None:
            return False
        headers = [*answer, *self.context.headers(scope, exchange)]
        exchange.status = 204
        exchange.responded = True
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _framework(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange, app: ASGIApp
    ) -> None:
        """Step 5 through Starlette (``app``: its router, or a response already made);
        the response gets the headers of step 2."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.responded = True
                headers = [*message.get("headers", ()), *self.headers(scope, exchange)]
                message["headers"] = headers
                if exchange.status >= 400:
                    note_challenge_error(scope, headers)
            await send(message)

        scope["app"] = self.app  # what Starlette.__call__ sets: request.app, url_for
        await app(scope, receive, send_with_headers)
