"""BearerAuthMiddleware: RFC 6750 answers from a pure ASGI middleware."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.e2e.conftest import free_port
from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import BearerAuthMiddleware, TokenValidator


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.token_claims["sub"]})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.state.token_claims["sub"])
    await websocket.close()


def build(validator: TokenValidator) -> BearerAuthMiddleware:
    inner = Starlette(
        routes=[Route("/whoami", whoami), Route("/healthz", healthz), WebSocketRoute("/ws", echo)]
    )
    return BearerAuthMiddleware(
        inner, validator, required_scopes=["read"], exclude_paths={"/healthz"}
    )


@pytest.fixture
async def client(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    validator = TokenValidator(issuer.url, AUDIENCE)
    transport = httpx.ASGITransport(app=build(validator))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http
    validator.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_reaches_the_app_with_its_claims(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    response = await client.get("/whoami", headers=bearer(issuer.mint()))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1"}


async def test_no_token_is_a_bare_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{AUDIENCE}"'
    assert response.content == b""


async def test_another_scheme_is_treated_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


async def test_invalid_token_is_401_invalid_token(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    response = await client.get("/whoami", headers=bearer(issuer.mint(aud="https://other.test")))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        f'Bearer realm="{AUDIENCE}", error="invalid_token", error_description="'
    )
    assert response.json()["error"] == "invalid_token"
    assert response.headers["cache-control"] == "no-store"


async def test_missing_scope_is_403_insufficient_scope(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    response = await client.get("/whoami", headers=bearer(issuer.mint(scope="write")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="read"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer a b", "Bearer ab!cd", "bearer \x7f", "Bearer é"]
)
async def test_malformed_authorization_is_400_invalid_request(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/whoami", headers={b"Authorization": value.encode("latin-1")})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_two_authorization_headers_are_400(
    issuer: FakeIssuer, client: httpx.AsyncClient
) -> None:
    token = issuer.mint()
    response = await client.get(
        "/whoami", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Basic eA==")]
    )
    assert response.status_code == 400


async def test_scheme_is_case_insensitive(issuer: FakeIssuer, client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami", headers={"Authorization": f"bEaReR  {issuer.mint()}"})
    assert response.status_code == 200


async def test_excluded_paths_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).text == "ok"


async def test_websocket_without_token_is_closed_with_1008(issuer: FakeIssuer) -> None:
    validator = TokenValidator(issuer.url, AUDIENCE)
    sent: list[dict[str, Any]] = []
    received: list[str] = []

    async def receive() -> dict[str, Any]:
        received.append("connect")
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    try:
        await build(validator)(scope, receive, send)
    finally:
        validator.close()
    assert received == ["connect"]
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_over_a_real_socket(issuer: FakeIssuer) -> None:
    validator = TokenValidator(issuer.url, AUDIENCE)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build(validator), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/whoami").status_code == 401
            ok = http.get("/whoami", headers=bearer(issuer.mint("EdDSA")))
            assert ok.status_code == 200 and ok.json() == {"sub": "user-1"}
            bad = http.get("/whoami", headers=bearer(issuer.mint(scope="none")))
            assert bad.status_code == 403
    finally:
        server.should_exit = True
        thread.join(10)
        validator.close()
