"""require_scopes(...) as a FastAPI dependency and inside a plain Starlette endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import BearerAuthMiddleware, TokenValidator, require_scopes


@pytest.fixture
def validator(issuer: FakeIssuer) -> Iterator[TokenValidator]:
    v = TokenValidator(issuer.url, AUDIENCE)
    yield v
    v.close()


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")


@pytest.fixture
async def fastapi_client(validator: TokenValidator) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.token_validator = validator

    @app.get("/readings")
    async def readings(
        claims: Annotated[dict[str, Any], Depends(require_scopes("read"))],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.post("/readings")
    async def write(
        claims: Annotated[dict[str, Any], Depends(require_scopes("read", "admin"))],
    ) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    async with asgi_client(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_fastapi_dependency_returns_the_claims(
    issuer: FakeIssuer, fastapi_client: httpx.AsyncClient
) -> None:
    response = await fastapi_client.get("/readings", headers=bearer(issuer.mint()))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1"}


async def test_fastapi_dependency_answers_rfc6750_errors(
    issuer: FakeIssuer, fastapi_client: httpx.AsyncClient
) -> None:
    missing = await fastapi_client.get("/readings")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{AUDIENCE}"'
    invalid = await fastapi_client.get(
        "/readings", headers=bearer(issuer.mint(iss="http://x.test"))
    )
    assert invalid.status_code == 401
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
    scope = await fastapi_client.post("/readings", headers=bearer(issuer.mint()))
    assert scope.status_code == 403
    assert 'scope="read admin"' in scope.headers["www-authenticate"]
    malformed = await fastapi_client.get("/readings", headers={"Authorization": "Bearer a b"})
    assert malformed.status_code == 400


async def test_starlette_endpoint_awaits_the_dependency(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    needs_write = require_scopes("write")

    async def endpoint(request: Request) -> JSONResponse:
        claims = await needs_write(request)
        return JSONResponse({"client": claims["client_id"]})

    app = Starlette(routes=[Route("/", endpoint)])
    app.state.token_validator = validator
    async with asgi_client(app) as client:
        allowed = await client.get("/", headers=bearer(issuer.mint()))
        assert allowed.json() == {"client": "client-1"}
        denied = await client.get("/", headers=bearer(issuer.mint(scope="read")))
        assert denied.status_code == 403
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]


async def test_claims_from_the_middleware_are_reused(
    issuer: FakeIssuer, validator: TokenValidator
) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        claims = await require_scopes("admin")(request)
        return JSONResponse(claims)

    inner = Starlette(routes=[Route("/", endpoint)])
    inner.state.token_validator = validator
    async with asgi_client(BearerAuthMiddleware(inner, validator)) as client:
        token = issuer.mint()
        denied = await client.get("/", headers=bearer(token))
        assert denied.status_code == 403  # the middleware let it in, the endpoint did not
        allowed = await client.get("/", headers=bearer(issuer.mint(scope="admin")))
        assert allowed.status_code == 200
    assert validator.cache_misses == 2  # each token validated once, by the middleware
